//! The `convert_units` action: the table of known units and conversion
//! between units of one kind.

use serde_json::{json, Value};

use crate::tools::ToolError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Length,
    Mass,
    Temperature,
    Data,
    Time,
    Volume,
    Speed,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Length => "length",
            Kind::Mass => "mass",
            Kind::Temperature => "temperature",
            Kind::Data => "data size",
            Kind::Time => "time",
            Kind::Volume => "volume",
            Kind::Speed => "speed",
        }
    }
}

/// A unit: its canonical symbol, its kind and how many base units one of it is
/// (metre, kilogram, byte, second, litre, metre per second; unused for temperature).
struct Unit {
    symbol: &'static str,
    kind: Kind,
    factor: f64,
}

/// Lower-case spellings accepted for each unit.
const UNITS: &[(&[&str], &str, Kind, f64)] = &[
    (
        &["m", "meter", "meters", "metre", "metres"],
        "m",
        Kind::Length,
        1.0,
    ),
    (
        &["km", "kilometer", "kilometers", "kilometre", "kilometres"],
        "km",
        Kind::Length,
        1000.0,
    ),
    (
        &[
            "cm",
            "centimeter",
            "centimeters",
            "centimetre",
            "centimetres",
        ],
        "cm",
        Kind::Length,
        0.01,
    ),
    (
        &[
            "mm",
            "millimeter",
            "millimeters",
            "millimetre",
            "millimetres",
        ],
        "mm",
        Kind::Length,
        0.001,
    ),
    (
        &["um", "µm", "micrometer", "micrometers", "micron", "microns"],
        "um",
        Kind::Length,
        1e-6,
    ),
    (&["nm", "nanometer", "nanometers"], "nm", Kind::Length, 1e-9),
    (&["mi", "mile", "miles"], "mi", Kind::Length, 1609.344),
    (&["yd", "yard", "yards"], "yd", Kind::Length, 0.9144),
    (&["ft", "foot", "feet"], "ft", Kind::Length, 0.3048),
    (&["in", "inch", "inches"], "in", Kind::Length, 0.0254),
    (
        &["nmi", "nautical mile", "nautical miles", "nautical_mile"],
        "nmi",
        Kind::Length,
        1852.0,
    ),
    (&["kg", "kilogram", "kilograms"], "kg", Kind::Mass, 1.0),
    (&["g", "gram", "grams"], "g", Kind::Mass, 0.001),
    (&["mg", "milligram", "milligrams"], "mg", Kind::Mass, 1e-6),
    (
        &["ug", "µg", "mcg", "microgram", "micrograms"],
        "ug",
        Kind::Mass,
        1e-9,
    ),
    (
        &["t", "tonne", "tonnes", "metric ton", "metric_ton"],
        "t",
        Kind::Mass,
        1000.0,
    ),
    (
        &["lb", "lbs", "pound", "pounds"],
        "lb",
        Kind::Mass,
        0.453_592_37,
    ),
    (
        &["oz", "ounce", "ounces"],
        "oz",
        Kind::Mass,
        0.028_349_523_125,
    ),
    (&["st", "stone", "stones"], "st", Kind::Mass, 6.350_293_18),
    (&["c", "°c", "celsius", "degc"], "C", Kind::Temperature, 0.0),
    (
        &["f", "°f", "fahrenheit", "degf"],
        "F",
        Kind::Temperature,
        0.0,
    ),
    (&["k", "kelvin"], "K", Kind::Temperature, 0.0),
    (&["bit", "bits"], "bit", Kind::Data, 0.125),
    (&["kbit", "kilobit", "kilobits"], "kbit", Kind::Data, 125.0),
    (
        &["mbit", "megabit", "megabits"],
        "Mbit",
        Kind::Data,
        125_000.0,
    ),
    (
        &["gbit", "gigabit", "gigabits"],
        "Gbit",
        Kind::Data,
        125_000_000.0,
    ),
    (&["b", "byte", "bytes"], "B", Kind::Data, 1.0),
    (&["kb", "kilobyte", "kilobytes"], "KB", Kind::Data, 1e3),
    (&["mb", "megabyte", "megabytes"], "MB", Kind::Data, 1e6),
    (&["gb", "gigabyte", "gigabytes"], "GB", Kind::Data, 1e9),
    (&["tb", "terabyte", "terabytes"], "TB", Kind::Data, 1e12),
    (&["pb", "petabyte", "petabytes"], "PB", Kind::Data, 1e15),
    (&["kib", "kibibyte", "kibibytes"], "KiB", Kind::Data, 1024.0),
    (
        &["mib", "mebibyte", "mebibytes"],
        "MiB",
        Kind::Data,
        1_048_576.0,
    ),
    (
        &["gib", "gibibyte", "gibibytes"],
        "GiB",
        Kind::Data,
        1_073_741_824.0,
    ),
    (
        &["tib", "tebibyte", "tebibytes"],
        "TiB",
        Kind::Data,
        1_099_511_627_776.0,
    ),
    (
        &["pib", "pebibyte", "pebibytes"],
        "PiB",
        Kind::Data,
        1_125_899_906_842_624.0,
    ),
    (&["ns", "nanosecond", "nanoseconds"], "ns", Kind::Time, 1e-9),
    (
        &["us", "µs", "microsecond", "microseconds"],
        "us",
        Kind::Time,
        1e-6,
    ),
    (
        &["ms", "millisecond", "milliseconds"],
        "ms",
        Kind::Time,
        1e-3,
    ),
    (
        &["s", "sec", "secs", "second", "seconds"],
        "s",
        Kind::Time,
        1.0,
    ),
    (
        &["min", "mins", "minute", "minutes"],
        "min",
        Kind::Time,
        60.0,
    ),
    (
        &["h", "hr", "hrs", "hour", "hours"],
        "h",
        Kind::Time,
        3600.0,
    ),
    (&["d", "day", "days"], "d", Kind::Time, 86_400.0),
    (&["wk", "week", "weeks"], "week", Kind::Time, 604_800.0),
    (&["yr", "year", "years"], "year", Kind::Time, 31_557_600.0),
    (
        &["l", "liter", "liters", "litre", "litres"],
        "l",
        Kind::Volume,
        1.0,
    ),
    (
        &[
            "ml",
            "milliliter",
            "milliliters",
            "millilitre",
            "millilitres",
            "cm3",
        ],
        "ml",
        Kind::Volume,
        1e-3,
    ),
    (
        &["cl", "centiliter", "centilitre"],
        "cl",
        Kind::Volume,
        1e-2,
    ),
    (&["dl", "deciliter", "decilitre"], "dl", Kind::Volume, 1e-1),
    (
        &["m3", "cubic meter", "cubic metre"],
        "m3",
        Kind::Volume,
        1000.0,
    ),
    (
        &["gal", "gallon", "gallons"],
        "gal",
        Kind::Volume,
        3.785_411_784,
    ),
    (
        &["qt", "quart", "quarts"],
        "qt",
        Kind::Volume,
        0.946_352_946,
    ),
    (&["pt", "pint", "pints"], "pt", Kind::Volume, 0.473_176_473),
    (&["cup", "cups"], "cup", Kind::Volume, 0.236_588_236_5),
    (
        &["floz", "fl oz", "fluid ounce", "fluid ounces"],
        "floz",
        Kind::Volume,
        0.029_573_529_562_5,
    ),
    (
        &["tbsp", "tablespoon", "tablespoons"],
        "tbsp",
        Kind::Volume,
        0.014_786_764_781_25,
    ),
    (
        &["tsp", "teaspoon", "teaspoons"],
        "tsp",
        Kind::Volume,
        0.004_928_921_593_75,
    ),
    (
        &["m/s", "mps", "meters per second", "metres per second"],
        "m/s",
        Kind::Speed,
        1.0,
    ),
    (
        &[
            "km/h",
            "kph",
            "kmh",
            "kilometers per hour",
            "kilometres per hour",
        ],
        "km/h",
        Kind::Speed,
        1.0 / 3.6,
    ),
    (
        &["mph", "mi/h", "miles per hour"],
        "mph",
        Kind::Speed,
        0.447_04,
    ),
    (
        &["kn", "kt", "knot", "knots"],
        "knot",
        Kind::Speed,
        1852.0 / 3600.0,
    ),
    (
        &["ft/s", "fps", "feet per second"],
        "ft/s",
        Kind::Speed,
        0.3048,
    ),
];

fn find_unit(field: &str, raw: &str) -> Result<Unit, ToolError> {
    let wanted = raw.trim().to_lowercase();
    UNITS
        .iter()
        .find(|(aliases, ..)| aliases.contains(&wanted.as_str()))
        .map(|(_, symbol, kind, factor)| Unit {
            symbol,
            kind: *kind,
            factor: *factor,
        })
        .ok_or_else(|| {
            ToolError::invalid(
                field,
                format!("unknown unit \"{raw}\"; see the action description for known units"),
            )
        })
}

fn to_kelvin(value: f64, unit: &str) -> f64 {
    match unit {
        "C" => value + 273.15,
        "F" => (value - 32.0) * 5.0 / 9.0 + 273.15,
        _ => value,
    }
}

fn from_kelvin(kelvin: f64, unit: &str) -> f64 {
    match unit {
        "C" => kelvin - 273.15,
        "F" => (kelvin - 273.15) * 9.0 / 5.0 + 32.0,
        _ => kelvin,
    }
}

/// Rounds to 12 significant digits, dropping binary noise such as 0.30000000000000004.
fn tidy(x: f64) -> f64 {
    format!("{x:.11e}").parse().unwrap_or(x)
}

pub(super) fn convert_units(value: f64, from: &str, to: &str) -> Result<Value, ToolError> {
    let from_unit = find_unit("from", from)?;
    let to_unit = find_unit("to", to)?;
    if from_unit.kind != to_unit.kind {
        return Err(ToolError::invalid(
            "to",
            format!(
                "cannot convert {} ({}) to {} ({})",
                from_unit.symbol,
                from_unit.kind.name(),
                to_unit.symbol,
                to_unit.kind.name()
            ),
        ));
    }
    let result = if from_unit.kind == Kind::Temperature {
        let kelvin = to_kelvin(value, from_unit.symbol);
        if kelvin < -1e-9 {
            return Err(ToolError::invalid(
                "value",
                "the temperature is below absolute zero",
            ));
        }
        from_kelvin(kelvin, to_unit.symbol)
    } else {
        value * from_unit.factor / to_unit.factor
    };
    if !result.is_finite() {
        return Err(ToolError::invalid("value", "the result is out of range"));
    }
    Ok(json!({
        "value": value,
        "from": from_unit.symbol,
        "to": to_unit.symbol,
        "kind": from_unit.kind.name(),
        "result": tidy(result),
    }))
}
