//! Closed vocabularies of the input schema: order categories (thesis table 3.2.3) and
//! after-sales reasons. Unknown categories count as `Other`; unknown reasons as `Other`.

use std::fmt;

use serde::{Deserialize, Serialize};

#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    ApparelBags,
    FreshFood,
    Home,
    Nutrition,
    Skincare,
    Cosmetics,
    PersonalCare,
    MotherBaby,
    Other,
}

impl Category {
    pub const COUNT: usize = 9;
    pub const ALL: [Category; Category::COUNT] = [
        Category::ApparelBags,
        Category::FreshFood,
        Category::Home,
        Category::Nutrition,
        Category::Skincare,
        Category::Cosmetics,
        Category::PersonalCare,
        Category::MotherBaby,
        Category::Other,
    ];
    /// The eight named categories, i.e. all but `Other`.
    pub const NAMED: [Category; 8] = [
        Category::ApparelBags,
        Category::FreshFood,
        Category::Home,
        Category::Nutrition,
        Category::Skincare,
        Category::Cosmetics,
        Category::PersonalCare,
        Category::MotherBaby,
    ];

    /// Any text outside the eight named categories is `Other` (SPEC §2).
    pub fn from_name(name: &str) -> Category {
        match name {
            "apparel_bags" => Category::ApparelBags,
            "fresh_food" => Category::FreshFood,
            "home" => Category::Home,
            "nutrition" => Category::Nutrition,
            "skincare" => Category::Skincare,
            "cosmetics" => Category::Cosmetics,
            "personal_care" => Category::PersonalCare,
            "mother_baby" => Category::MotherBaby,
            _ => Category::Other,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Category::ApparelBags => "apparel_bags",
            Category::FreshFood => "fresh_food",
            Category::Home => "home",
            Category::Nutrition => "nutrition",
            Category::Skincare => "skincare",
            Category::Cosmetics => "cosmetics",
            Category::PersonalCare => "personal_care",
            Category::MotherBaby => "mother_baby",
            Category::Other => "other",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AfterSalesReason {
    DamagedPackage,
    Spoiled,
    Quality,
    WrongItem,
    LateDelivery,
    Other,
}

impl AfterSalesReason {
    pub fn from_name(name: &str) -> AfterSalesReason {
        match name {
            "damaged_package" => AfterSalesReason::DamagedPackage,
            "spoiled" => AfterSalesReason::Spoiled,
            "quality" => AfterSalesReason::Quality,
            "wrong_item" => AfterSalesReason::WrongItem,
            "late_delivery" => AfterSalesReason::LateDelivery,
            _ => AfterSalesReason::Other,
        }
    }
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TicketStatus {
    Opened,
    Resolved,
}
