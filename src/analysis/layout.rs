//! Copying a prior file's variables and attributes into an analysis file, and the attributes of
//! the analysis fields `<var>_<statistic>`: what the analysis writers share, so that an analysis
//! keeps its prior's variables, units and names.

use netcdf::AttributeValue;

use crate::cf::{NcFile, NcWriter};
use crate::error::Result;

/// Attributes that describe packing or validity of the input values, not the analysed ones.
const DROPPED_ATTRIBUTES: &[&str] = &["_FillValue", "missing_value", "scale_factor", "add_offset", "valid_range", "valid_min", "valid_max"];

/// The attributes of `var` that still describe analysed values (units, names, comments).
pub fn copied_attributes(file: &NcFile, var: &str) -> Result<Vec<(String, AttributeValue)>> {
    Ok(file.attributes(Some(var))?.into_iter().filter(|(k, _)| !DROPPED_ATTRIBUTES.contains(&k.as_str())).collect())
}

/// `attrs` in the form [`NcWriter`] takes.
pub fn borrowed(attrs: &[(String, AttributeValue)]) -> Vec<(&str, AttributeValue)> {
    attrs.iter().map(|(k, v)| (k.as_str(), v.clone())).collect()
}

/// Copies variable `name` of `file` (values and attributes) into `w`, keeping integers integer.
pub fn copy_variable(w: &mut NcWriter, file: &NcFile, name: &str) -> Result<()> {
    let dims = file.var_dims(name)?;
    let dim_refs: Vec<&str> = dims.iter().map(String::as_str).collect();
    let values: Vec<f64> = file.read(name)?.data.iter().copied().collect();
    let attrs = copied_attributes(file, name)?;
    if file.is_integer(name)? && values.iter().all(|v| v.is_finite() && v.abs() <= i32::MAX as f64) {
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
