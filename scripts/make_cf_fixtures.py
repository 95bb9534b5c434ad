#!/usr/bin/env python3
"""Writes the CF fixtures the tests read, with netCDF4-python, and what cftime decodes from them.

Run: python3 -m venv .venv && .venv/bin/pip install netCDF4 cftime numpy && .venv/bin/python scripts/make_cf_fixtures.py
Outputs (committed): tests/fixtures/noleap_sst.nc, drifters_ragged.nc, drifters_multidim.nc and
tests/fixtures/cf_fixtures.json with the expected decoded time ranges and trajectory counts.
"""
import json
import os

import cftime
import netCDF4
import numpy as np

OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures")


def fmt(d):
    """The instant as contrada prints it: seconds with a fraction only when not whole."""
    text = "%04d-%02d-%02d %02d:%02d:%02d" % (d.year, d.month, d.day, d.hour, d.minute, d.second)
    if d.microsecond:
        text += ("." + "%06d" % d.microsecond).rstrip("0")
    return text


def noleap_sst(path):
    """A packed (short + scale/offset) SST field on a noleap calendar, with fill and land."""
    ds = netCDF4.Dataset(path, "w", format="NETCDF4")
    ds.Conventions = "CF-1.8"
    ds.title = "contrada fixture: noleap SST"
    ds.createDimension("time", 6)
    ds.createDimension("lat", 3)
    ds.createDimension("lon", 4)
    t = ds.createVariable("time", "f8", ("time",))
    t.units = "days since 2001-02-25 06:00:00"
    t.calendar = "noleap"
    t.standard_name = "time"
    t.axis = "T"
    # Crosses the end of February in a calendar without leap days, and a year end.
    t[:] = [0.0, 2.5, 3.0, 4.0, 310.0, 365.75]
    lat = ds.createVariable("lat", "f4", ("lat",))
    lat.units = "degrees_north"
    lat.standard_name = "latitude"
    lat[:] = [-10, 0, 10]
    lon = ds.createVariable("lon", "f4", ("lon",))
    lon.units = "degrees_east"
    lon.standard_name = "longitude"
    lon[:] = [0, 90, 180, 270]
    sst = ds.createVariable("sst", "i2", ("time", "lat", "lon"), fill_value=np.int16(-32767))
    sst.units = "degC"
    sst.standard_name = "sea_surface_temperature"
    sst.scale_factor = 0.01
    sst.add_offset = 20.0
    sst.valid_range = np.array([-2000, 2000], dtype="i2")
    vals = 20.0 + np.arange(6 * 3 * 4).reshape(6, 3, 4) * 0.25
    sst.set_auto_maskandscale(True)
    masked = np.ma.masked_array(vals, mask=np.zeros_like(vals, dtype=bool))
    masked.mask[:, 0, 0] = True  # land
    sst[:] = masked
    ds.close()
    times = cftime.num2date([0.0, 365.75], "days since 2001-02-25 06:00:00", calendar="noleap")
    with netCDF4.Dataset(path) as ds:
        data = ds["sst"][:]
        return {
            "first": fmt(times[0]), "last": fmt(times[1]), "calendar": "noleap", "count": 6,
            "sst_sum": float(data.sum()), "sst_masked": int(np.ma.count_masked(data)),
        }


def drifters(path, ragged):
    """Three drifters of 4, 2 and 5 fixes, on the standard calendar, hours since an epoch."""
    rows = [4, 2, 5]
    rng = np.random.default_rng(7)
    times = [np.sort(rng.uniform(0, 240, n)) + 1000 * k for k, n in enumerate(rows)]
    lons = [rng.uniform(-60, -20, n) for n in rows]
    lats = [rng.uniform(10, 40, n) for n in rows]
    ds = netCDF4.Dataset(path, "w", format="NETCDF4")
    ds.Conventions = "CF-1.8"
    ds.featureType = "trajectory"
    ds.createDimension("trajectory", 3)
    if ragged:
        ds.createDimension("obs", sum(rows))
        dims = ("obs",)
        rs = ds.createVariable("rowSize", "i4", ("trajectory",))
        rs.sample_dimension = "obs"
        rs[:] = rows
    else:
        ds.createDimension("obs", max(rows))
        dims = ("trajectory", "obs")
    tid = ds.createVariable("drifter_id", "i4", ("trajectory",))
    tid.cf_role = "trajectory_id"
    tid[:] = [41001, 41002, 41003]
    for name, data, attrs in [
        ("time", times, {"standard_name": "time", "units": "hours since 1999-12-31 00:00:00", "calendar": "standard"}),
        ("lon", lons, {"standard_name": "longitude", "units": "degrees_east"}),
        ("lat", lats, {"standard_name": "latitude", "units": "degrees_north"}),
    ]:
        v = ds.createVariable(name, "f8", dims, fill_value=-999.0)
        for k, a in attrs.items():
            setattr(v, k, a)
        if ragged:
            v[:] = np.concatenate(data)
        else:
            full = np.full((3, max(rows)), -999.0)
            for k, d in enumerate(data):
                full[k, : len(d)] = d
            v[:] = np.ma.masked_equal(full, -999.0)
    ds.close()
    all_t = np.concatenate(times)
    dec = cftime.num2date([all_t.min(), all_t.max()], "hours since 1999-12-31 00:00:00", calendar="standard")
    return {
        "first": fmt(dec[0]), "last": fmt(dec[1]), "trajectories": 3, "observations": sum(rows),
        "first_lon": float(lons[0][0]), "last_lat": float(lats[2][-1]),
    }


def main():
    expected = {
        "noleap_sst.nc": noleap_sst(os.path.join(OUT, "noleap_sst.nc")),
        "drifters_ragged.nc": drifters(os.path.join(OUT, "drifters_ragged.nc"), True),
        "drifters_multidim.nc": drifters(os.path.join(OUT, "drifters_multidim.nc"), False),
    }
    with open(os.path.join(OUT, "cf_fixtures.json"), "w") as f:
        json.dump(expected, f, indent=2, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()
