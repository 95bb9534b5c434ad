//! Ensembles and observations in and out of CF NetCDF files: a gridded (multivariate) prior
//! ensemble and the analysis in its layout ([`ensemble_io`]), gridded, point and station
//! observations of it ([`obs_file`]), the same from an ingest data set ([`dataset_obs`]), and drifter fixes observing its velocity
//! ([`grid_drifter_file`]), and the Lagrangian flow's states file as an ensemble
//! ([`flow_ensemble`]) with its drifter trajectories ([`drifter_file`]).

pub mod dataset_obs;
pub mod drifter_file;
pub mod ensemble_io;
pub mod flow_ensemble;
pub mod grid_drifter_file;
pub mod obs_file;
