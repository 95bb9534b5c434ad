//! Copying a prior file's variables and attributes into an analysis file, and the attributes of
//! the analysis fields `<var>_<statistic>`: what the analysis writers share, so that an analysis
//! keeps its prior's variables, units and names.

use netcdf::AttributeValue;

use crate::cf::{NcFile, NcWriter};
use crate::error::Result;

/// Attributes read from a file, owned, as the layout-copying helpers pass them to a writer.
pub type OwnedAttrs = Vec<(String, AttributeValue)>;

/// Attributes that describe packing or validity of the input values, not the analysed ones.
const DROPPED_ATTRIBUTES: &[&str] = &["_FillValue", "missing_value", "scale_factor", "add_offset", "valid_range", "valid_min", "valid_max"];

/// The attributes of `var` that still describe analysed values (units, names, comments).
pub fn copied_attributes(file: &NcFile, var: &str) -> Result<Vec<(String, AttributeValue)>> {
    Ok(file.attributes(Some(var))?.into_iter().filter(|(k, _)| !DROPPED_ATTRIBUTES.contains(&k.as_str())).collect())
}

/// The attributes of the coordinate variable `var` of `file` as an analysis writes them: the
/// copied ones, completed so that the coordinate is named (CF-1.8 section 3: a `long_name` or a
/// `standard_name`) and no CF checker takes a plane coordinate for latitude or longitude.
///
/// A `standard_name` is added where one is true: `time` for a T axis or time units,
/// `latitude`/`longitude` for degrees north/east, `projection_x_coordinate` /
/// `projection_y_coordinate` for an X/Y axis in metres. CF-1.8 section 5.6 asks a horizontal grid
/// that is not latitude/longitude for its true latitude and longitude, which an idealised plane
/// has none of; a projection standard name marks a plane in metres, but none fits a
/// nondimensional one (a periodic unit square), so there the `axis` X/Y is dropped and the
/// `long_name` says which axis it is. Without any name the `long_name` is the variable's name.
pub fn coordinate_attributes(file: &NcFile, var: &str) -> Result<OwnedAttrs> {
    // `bounds` and `climatology` name variables that not every analysis writer copies.
    let mut attrs: Vec<_> = copied_attributes(file, var)?.into_iter().filter(|(k, _)| k != "bounds" && k != "climatology").collect();
    let get = |attrs: &[(String, AttributeValue)], key: &str| {
        attrs.iter().find(|(k, _)| k == key).and_then(|(_, v)| if let AttributeValue::Str(s) = v { Some(s.clone()) } else { None })
    };
    let units = get(&attrs, "units").unwrap_or_default().to_lowercase();
    let axis = get(&attrs, "axis").unwrap_or_default().to_uppercase();
    if get(&attrs, "standard_name").is_none() {
        let degrees = units.starts_with("degree");
        let metres = ["m", "km", "metre", "metres", "meter", "meters", "kilometre", "kilometres", "kilometer", "kilometers"].contains(&units.as_str());
        let standard = if axis == "T" || units.contains(" since ") {
            Some("time")
        } else if degrees && (units.ends_with("north") || units.ends_with('n')) {
            Some("latitude")
        } else if degrees && (units.ends_with("east") || units.ends_with('e')) {
            Some("longitude")
        } else if metres && axis == "X" {
            Some("projection_x_coordinate")
        } else if metres && axis == "Y" {
            Some("projection_y_coordinate")
        } else {
            None
        };
        match standard {
            Some(name) => attrs.push(("standard_name".into(), name.into())),
            None if axis == "X" || axis == "Y" => attrs.retain(|(k, _)| k != "axis"),
            None => {}
        }
    }
    if get(&attrs, "long_name").is_none() && get(&attrs, "standard_name").is_none() {
        attrs.push(("long_name".into(), var.into()));
    }
    Ok(attrs)
}

/// `attrs` in the form [`NcWriter`] takes.
pub fn borrowed(attrs: &[(String, AttributeValue)]) -> Vec<(&str, AttributeValue)> {
    attrs.iter().map(|(k, v)| (k.as_str(), v.clone())).collect()
}

/// Copies variable `name` of `file` (values and attributes) into `w`, keeping integers integer;
/// a coordinate variable gets [`coordinate_attributes`].
pub fn copy_variable(w: &mut NcWriter, file: &NcFile, name: &str) -> Result<()> {
    let dims = file.var_dims(name)?;
    let dim_refs: Vec<&str> = dims.iter().map(String::as_str).collect();
    let values: Vec<f64> = file.read(name)?.data.iter().copied().collect();
    let mut attrs = if dims == [name] { coordinate_attributes(file, name)? } else { copied_attributes(file, name)? };
    if file.is_integer(name)? && values.iter().all(|v| v.is_finite() && v.abs() <= i32::MAX as f64) {
        // CF wants flag values in the type of their variable, which is int here whatever it was.
        for (k, v) in attrs.iter_mut() {
            if (k == "flag_values" || k == "flag_masks")
                && let Some(flags) = file.attr_f64s(Some(name), k)
            {
                *v = AttributeValue::Ints(flags.iter().map(|&f| f as i32).collect());
            }
        }
        let ints: Vec<i32> = values.iter().map(|&v| v as i32).collect();
        w.var_i32(name, &dim_refs, &ints, borrowed(&attrs))
    } else {
        w.var_f64(name, &dim_refs, &values, borrowed(&attrs))
    }
}

/// Copies the global attributes that [`NcWriter::create`] does not set itself.
pub fn copy_globals(w: &mut NcWriter, file: &NcFile) -> Result<()> {
    for (k, v) in file.attributes(None)? {
        if !["Conventions", "title", "source", "history"].contains(&k.as_str()) {
            w.global(&k, v)?;
        }
    }
    Ok(())
}

/// Attributes of the analysis field `<var>_<statistic>` (`mean`, `spread` or `increment`):
/// the units of `var` in `file` and a long name and comment saying what the field is.
pub fn statistic_attrs(file: &NcFile, var: &str, statistic: &str) -> Vec<(&'static str, AttributeValue)> {
    let long = file.attr_str(Some(var), "long_name").unwrap_or_else(|| var.to_string());
    let mut attrs: Vec<(&str, AttributeValue)> = vec![("long_name", format!("{long} (analysis {statistic})").into())];
    if let Some(u) = file.attr_str(Some(var), "units") {
        attrs.push(("units", u.into()));
    }
    match statistic {
        "spread" => attrs.push(("comment", "unbiased ensemble standard deviation (ddof = 1)".into())),
        "increment" => attrs.push(("comment", "analysis mean minus prior mean".into())),
        _ => {}
    }
    attrs
}
