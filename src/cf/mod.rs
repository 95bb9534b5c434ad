//! CF-1.8 NetCDF: reading any user file as configured, and writing contrada's outputs.
//!
//! Everything that touches netcdf-c goes through this module, so that the rest of the crate sees
//! plain arrays with missing values as NaN, decoded times and typed errors naming file and variable.

pub mod dsg;
pub mod inspect;
pub mod read;
pub mod time;
pub mod write;

pub use read::{MaskCounts, MaskRule, MaskedArray, NcFile, TimeAxis};
pub use write::NcWriter;

/// Turns off HDF5's printing of its internal error stacks on the calling thread.
///
/// netcdf-c probes optional attributes (`_QuantizeBitGroomNumberOfSignificantDigits`, ...) by
/// asking HDF5 for them and expects "not found"; it silences HDF5's report of that only on the
/// thread that first initialised the library. HDF5 keeps that setting per thread, so a file
/// opened on any other thread (a worker, a test) printed a page of `HDF5-DIAG` noise to stderr
/// for every such probe. Real failures still reach us as netcdf-c return codes.
pub(crate) fn quiet_hdf5_errors() {
    thread_local! {
        static DONE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    }
    // HDF5 >= 1.10: hid_t is a 64-bit integer and H5E_DEFAULT is 0.
    unsafe extern "C" {
        fn H5Eset_auto2(estack: i64, func: Option<unsafe extern "C" fn(i64, *mut std::ffi::c_void) -> i32>, data: *mut std::ffi::c_void) -> i32;
        fn H5dont_atexit() -> i32;
    }
    static NO_ATEXIT: std::sync::Once = std::sync::Once::new();
    // HDF5 registers an exit handler that closes every file still open. A file whose write failed
    // on a full disk stays open inside HDF5 whatever netcdf-c is told (the flush fails again), and
    // that handler then crashed the process (SIGSEGV in H5F__close_cb) after the error was
    // reported. Every file contrada writes is closed explicitly (`NcWriter::finish`) or abandoned
    // on an error path, so the handler has nothing of ours to save. Must precede HDF5's
    // initialisation, which the next call below performs.
    NO_ATEXIT.call_once(|| {
        // SAFETY: takes no arguments; only sets a flag read when HDF5 initialises.
        unsafe { H5dont_atexit() };
    });
    DONE.with(|done| {
        if !done.replace(true) {
            // SAFETY: a null handler with a null client pointer is the documented way to turn
            // automatic printing off; HDF5 initialises itself on this call if needed.
            unsafe { H5Eset_auto2(0, None, std::ptr::null_mut()) };
        }
    });
}
