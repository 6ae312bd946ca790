# churnwatch container image: `docker build -t churnwatch .` (used by deploy/docker-compose.yml).
FROM rust:1.85-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends cmake libssl-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Cargo.toml Cargo.lock build.rs ./
COPY proto proto
COPY crates crates
COPY src src
COPY benches benches
RUN cargo build --release --locked --bin churnwatch

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates libssl3 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 churnwatch
COPY --from=build /src/target/release/churnwatch /usr/local/bin/churnwatch
COPY churnwatch.example.toml /etc/churnwatch/churnwatch.toml
USER churnwatch
ENTRYPOINT ["churnwatch"]
CMD ["--config", "/etc/churnwatch/churnwatch.toml", "run", "--log-format", "json"]
