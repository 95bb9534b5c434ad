//! Ensembles and observations in and out of CF NetCDF files: a gridded prior ensemble and the
//! analysis in its layout ([`ensemble_io`]), gridded and point observations of it ([`obs_file`]),
//! the Lagrangian flow's states file as an ensemble ([`flow_ensemble`]) with its drifter
//! trajectories ([`drifter_file`]), and the variable and attribute copying both analysis writers
//! share ([`copy`]).

pub mod drifter_file;
pub mod ensemble_io;
pub mod flow_ensemble;
pub mod obs_file;
