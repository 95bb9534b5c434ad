//! CF NetCDF reading, writing and `contrada inspect` against files written by netCDF4-python and the
//! values cftime decodes from them (tests/fixtures, made by scripts/make_cf_fixtures.py).

use crate::common;

use common::{contrada, fixture, stdout};
use contrada::cf::dsg::{DsgNames, Layout, Trajectory, read_trajectories, unit_name};
use contrada::cf::{NcFile, NcWriter};
use contrada::config::IoConfig;
use serde_json::Value;

fn expected() -> Value {
    serde_json::from_str(&std::fs::read_to_string(fixture("cf_fixtures.json")).unwrap()).unwrap()
}

#[test]
fn inspect_decodes_a_noleap_time_range() {
    let exp = &expected()["noleap_sst.nc"];
    let out = contrada(&["inspect", &fixture("noleap_sst.nc")]);
    assert!(out.status.success(), "{out:?}");
    let text = stdout(&out);
    let line = format!("time time: {} .. {} ({} values, calendar noleap)", exp["first"].as_str().unwrap(), exp["last"].as_str().unwrap(), exp["count"]);
    assert!(text.contains(&line), "expected `{line}` in:\n{text}");
    assert!(text.contains("CF problems: none found"), "{text}");
}

#[test]
fn inspect_reads_a_ragged_drifter_file() {
    let exp = &expected()["drifters_ragged.nc"];
    let out = contrada(&["inspect", &fixture("drifters_ragged.nc")]);
    assert!(out.status.success(), "{out:?}");
    let text = stdout(&out);
    let range = format!("time time: {} .. {}", exp["first"].as_str().unwrap(), exp["last"].as_str().unwrap());
    assert!(text.contains(&range), "expected `{range}` in:\n{text}");
    let traj = format!("trajectories: {} ({} observations, ContiguousRagged layout)", exp["trajectories"], exp["observations"]);
    assert!(text.contains(&traj), "expected `{traj}` in:\n{text}");
}

#[test]
fn packed_values_are_unpacked_and_masked() {
    let exp = &expected()["noleap_sst.nc"];
    let f = NcFile::open(fixture("noleap_sst.nc")).unwrap();
    let sst = f.read_expect("sst", &["time", "lat", "lon"]).unwrap();
    let masked = sst.data.iter().filter(|v| v.is_nan()).count();
    let sum: f64 = sst.data.iter().filter(|v| !v.is_nan()).sum();
    assert_eq!(masked as u64, exp["sst_masked"].as_u64().unwrap());
    assert!((sum - exp["sst_sum"].as_f64().unwrap()).abs() < 1e-6, "sum {sum}");
}

#[test]
fn ragged_and_multidimensional_layouts_give_the_same_tracks() {
    let exp = &expected()["drifters_ragged.nc"];
    let ragged = read_trajectories(&NcFile::open(fixture("drifters_ragged.nc")).unwrap(), &DsgNames::default()).unwrap();
    let multi = read_trajectories(&NcFile::open(fixture("drifters_multidim.nc")).unwrap(), &DsgNames::default()).unwrap();
    assert_eq!(ragged.layout, Layout::ContiguousRagged);
    assert_eq!(multi.layout, Layout::Multidimensional);
    assert_eq!(ragged.trajectories, multi.trajectories, "padding must be dropped from the multidimensional layout");
    let lens: Vec<usize> = ragged.trajectories.iter().map(|t| t.time.len()).collect();
    assert_eq!(lens, vec![4, 2, 5]);
    assert_eq!(ragged.trajectories[0].id, "41001");
    assert_eq!(ragged.trajectories[0].x[0], exp["first_lon"].as_f64().unwrap());
    assert_eq!(*ragged.trajectories[2].y.last().unwrap(), exp["last_lat"].as_f64().unwrap());
}

#[test]
fn indexed_ragged_layout_gives_the_same_tracks() {
    let ragged = read_trajectories(&NcFile::open(fixture("drifters_ragged.nc")).unwrap(), &DsgNames::default()).unwrap();
    // The same fixes interleaved across drifters, as an archive appends them in time order.
    let longest = ragged.trajectories.iter().map(|t| t.time.len()).max().unwrap();
    let mut order = Vec::new();
    for p in 0..longest {
        order.extend(ragged.trajectories.iter().enumerate().filter(|(_, t)| p < t.time.len()).map(|(i, _)| (i, p)));
    }
    let pick = |f: fn(&Trajectory) -> &Vec<f64>| order.iter().map(|&(i, p)| f(&ragged.trajectories[i])[p]).collect::<Vec<f64>>();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("indexed.nc");
    let mut w = NcWriter::create(&path, &IoConfig::default(), "indexed ragged").unwrap();
    w.global("featureType", "trajectory").unwrap();
    w.dim("trajectory", ragged.trajectories.len()).unwrap();
    w.dim("obs", order.len()).unwrap();
    let ids: Vec<f64> = ragged.trajectories.iter().map(|t| t.id.parse().unwrap()).collect();
    w.var_f64("id", &["trajectory"], &ids, vec![("cf_role", "trajectory_id".into())]).unwrap();
    let index: Vec<i32> = order.iter().map(|&(i, _)| i as i32).collect();
    w.var_i32("traj_index", &["obs"], &index, vec![("instance_dimension", "trajectory".into())]).unwrap();
    let u = &ragged.time_units;
    let units = format!("{} since {}", unit_name(u.unit_seconds), u.epoch);
    w.var_f64("time", &["obs"], &pick(|t| &t.time), vec![("standard_name", "time".into()), ("units", units.into()), ("calendar", u.calendar.name().into())])
        .unwrap();
    w.var_f64("lon", &["obs"], &pick(|t| &t.x), vec![("standard_name", "longitude".into())]).unwrap();
    w.var_f64("lat", &["obs"], &pick(|t| &t.y), vec![("standard_name", "latitude".into())]).unwrap();
    w.finish().unwrap();
    let indexed = read_trajectories(&NcFile::open(&path).unwrap(), &DsgNames::default()).unwrap();
    assert_eq!(indexed.layout, Layout::IndexedRagged);
    assert_eq!(indexed.trajectories, ragged.trajectories);
}

#[test]
fn written_files_round_trip_with_fill_values_and_cf_attributes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.nc");
    let mut w = NcWriter::create(&path, &IoConfig::default(), "round trip").unwrap();
    w.coord("time", &[0.0, 1.0], vec![("units", "days since 2026-11-27".into()), ("calendar", "360_day".into()), ("standard_name", "time".into())]).unwrap();
    w.coord("y", &[0.0, 0.5, 1.0], vec![("units", "1".into())]).unwrap();
    w.coord("x", &[0.0, 0.5], vec![("units", "1".into())]).unwrap();
    let data: Vec<f64> = (0..12).map(|i| if i == 5 { f64::NAN } else { i as f64 * 0.1 }).collect();
    w.var_f64("psi", &["time", "y", "x"], &data, vec![("units", "m2 s-1".into())]).unwrap();
    w.finish().unwrap();

    let f = NcFile::open(&path).unwrap();
    assert_eq!(f.attr_str(None, "Conventions").as_deref(), Some("CF-1.8"));
    assert!(f.attr_str(None, "history").is_some_and(|h| !h.is_empty()));
    let back = f.read_expect("psi", &["time", "y", "x"]).unwrap();
    for (a, b) in back.data.iter().zip(&data) {
        assert!((a.is_nan() && b.is_nan()) || a == b, "{a} != {b}");
    }
    let t = f.read_time("time").unwrap();
    assert_eq!(t.times[1].to_string(), "2026-11-28 00:00:00");
    let out = contrada(&["inspect", "--strict", path.to_str().unwrap()]);
    assert!(out.status.success(), "{out:?}");
}
