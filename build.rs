//! Compiles proto/ into Rust with prost. The .proto files are parsed by protox (pure
//! Rust), so building needs no `protoc` on the machine.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    const FILES: [&str; 3] = [
        "churnwatch/v1/event.proto",
        "churnwatch/v1/warning.proto",
        "churnwatch/v1/contributions.proto",
    ];
    for file in FILES {
        println!("cargo:rerun-if-changed=proto/{file}");
    }
    let descriptors = protox::compile(FILES, ["proto"])?;
    prost_build::Config::new().compile_fds(descriptors)?;
    Ok(())
}
