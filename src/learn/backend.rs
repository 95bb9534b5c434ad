//! Choosing the burn device the learning code runs on.
//!
//! burn 0.22 carries the backend in the [`Device`] value, not in a type parameter, so the training
//! code is one code path and this module only decides which device to hand it. `auto` takes wgpu
//! when the machine has a hardware adapter and burn's `flex` CPU backend otherwise: on Mesa's
//! software adapters (lavapipe, llvmpipe) wgpu runs small models hundreds of times slower than the
//! CPU backend. Adapters are enumerated with the wgpu crate burn itself uses, before any burn
//! tensor is created, because burn's wgpu runtime panics on the first tensor when no adapter exists.

use std::fmt;
use std::sync::{Mutex, OnceLock};

use burn::tensor::wgpu::wgpu;
use burn::tensor::{Device, Tensor};

use crate::config::BackendChoice;
use crate::error::{Error, Result};

/// Which execution backend a [`SelectedBackend`] runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendKind {
    /// burn's wgpu backend (Vulkan, Metal, DX12 or GL through wgpu).
    Wgpu,
    /// burn's pure-Rust `flex` CPU backend.
    Cpu,
}

/// What wgpu reports about one adapter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdapterSummary {
    /// Adapter name, e.g. "llvmpipe (LLVM 15.0.6, 256 bits)".
    pub name: String,
    /// Graphics API, e.g. "Vulkan".
    pub api: String,
    /// Device type as wgpu classifies it: DiscreteGpu, IntegratedGpu, VirtualGpu, Cpu or Other.
    pub device_type: String,
    /// Driver name and version, when the driver reports them.
    pub driver: String,
    /// Whether this is real hardware rather than a software rasteriser (wgpu type `Cpu`).
    pub hardware: bool,
}

impl fmt::Display for AdapterSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}, {}", self.name, self.api, self.device_type)?;
        if !self.driver.is_empty() {
            write!(f, ", driver {}", self.driver)?;
        }
        write!(f, ")")
    }
}

/// The device chosen for a run, and how it was chosen.
#[derive(Debug, Clone)]
pub struct SelectedBackend {
    /// The burn device (without autodiff; training wraps it with `.autodiff()`).
    pub device: Device,
    /// Which backend the device belongs to.
    pub kind: BackendKind,
    /// The wgpu adapter in use, for [`BackendKind::Wgpu`].
    pub adapter: Option<AdapterSummary>,
}

impl fmt::Display for SelectedBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.kind, &self.adapter) {
            (BackendKind::Wgpu, Some(adapter)) => write!(f, "wgpu on {adapter}"),
            (BackendKind::Wgpu, None) => write!(f, "wgpu"),
            (BackendKind::Cpu, _) => write!(f, "cpu (burn flex)"),
        }
    }
}

/// Picks the device for `choice`; `origin` names where `run.backend` was set, for the error.
///
/// `wgpu` without any adapter, or an adapter that fails to initialise, is a configuration error
/// (exit code 2) that says so and suggests `cpu`; `auto` never fails.
pub fn select(choice: BackendChoice, origin: &str) -> Result<SelectedBackend> {
    let adapters = adapters();
    for adapter in adapters {
        tracing::debug!("wgpu adapter found: {adapter}");
    }
    let selected = match choice {
        BackendChoice::Cpu => cpu(),
        BackendChoice::Auto if adapters.iter().any(|a| a.hardware) => match wgpu_device() {
            Ok(selected) => selected,
            Err(message) => {
                tracing::warn!("hardware adapter found but wgpu failed to start ({message}); using the CPU backend");
                cpu()
            }
        },
        BackendChoice::Auto => cpu(),
        BackendChoice::Wgpu if adapters.is_empty() => {
            return Err(Error::config(
                origin,
                "run.backend",
                "`wgpu` was requested but wgpu finds no adapter on this machine (no GPU driver, no Vulkan/GL \
                 software driver such as Mesa's lavapipe); allowed here: `cpu` or `auto`",
            ));
        }
        BackendChoice::Wgpu => wgpu_device().map_err(|message| {
            Error::config(origin, "run.backend", format!("`wgpu` was requested but its adapter failed to start: {message}; use `cpu` or `auto`"))
        })?,
    };
    tracing::info!("learning backend: {selected}");
    Ok(selected)
}

/// The burn CPU backend.
pub fn cpu() -> SelectedBackend {
    SelectedBackend { device: Device::flex(), kind: BackendKind::Cpu, adapter: None }
}

/// Every adapter wgpu sees on any graphics API, probed once per process.
///
/// Never panics: a missing or broken driver yields no adapters (a panic inside wgpu's instance
/// set-up is caught and logged).
pub fn adapters() -> &'static [AdapterSummary] {
    static ADAPTERS: OnceLock<Vec<AdapterSummary>> = OnceLock::new();
    ADAPTERS.get_or_init(|| match std::panic::catch_unwind(probe) {
        Ok(list) => list,
        Err(_) => {
            tracing::warn!("wgpu panicked while enumerating adapters; treating this machine as having none");
            Vec::new()
        }
    })
}

fn probe() -> Vec<AdapterSummary> {
    let backends = wgpu::Instance::enabled_backend_features();
    if backends.is_empty() {
        return Vec::new();
    }
    // No debug flags: in debug builds wgpu would otherwise relay every driver-loader complaint
    // (e.g. "found no drivers" on a machine without Vulkan) as an error line.
    let instance = wgpu::Instance::new(wgpu::InstanceDescriptor {
        backends,
        flags: wgpu::InstanceFlags::empty(),
        ..wgpu::InstanceDescriptor::new_without_display_handle()
    });
    block_on(instance.enumerate_adapters(backends)).iter().map(|adapter| summarise(&adapter.get_info())).collect()
}

fn summarise(info: &wgpu::AdapterInfo) -> AdapterSummary {
    let driver = [info.driver.as_str(), info.driver_info.as_str()].iter().filter(|s| !s.is_empty()).copied().collect::<Vec<_>>().join(" ");
    AdapterSummary {
        name: info.name.clone(),
        api: format!("{:?}", info.backend),
        device_type: format!("{:?}", info.device_type),
        driver,
        hardware: info.device_type != wgpu::DeviceType::Cpu,
    }
}

/// The wgpu device, initialised once per process (burn refuses a second initialisation of the same
/// runtime, and every caller should share one device anyway) and checked with a small product.
fn wgpu_device() -> std::result::Result<SelectedBackend, String> {
    static WGPU: Mutex<Option<SelectedBackend>> = Mutex::new(None);
    let mut slot = WGPU.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(selected) = slot.as_ref() {
        return Ok(selected.clone());
    }
    let init = std::panic::catch_unwind(|| Device::wgpu_options().init_with_setup());
    let (device, setup) = match init {
        Ok(Ok(pair)) => pair,
        Ok(Err(e)) => return Err(e.to_string()),
        Err(_) => return Err("wgpu panicked while acquiring the adapter".into()),
    };
    let adapter = summarise(&setup.adapter.get_info());
    smoke_test(&device).map_err(|message| format!("{adapter}: {message}"))?;
    let selected = SelectedBackend { device, kind: BackendKind::Wgpu, adapter: Some(adapter) };
    *slot = Some(selected.clone());
    Ok(selected)
}

/// Multiplies two small matrices on `device` and compares with the known product, so that a
/// device that comes up but cannot compute is found before training starts.
pub fn smoke_test(device: &Device) -> std::result::Result<(), String> {
    let run = std::panic::AssertUnwindSafe(|| {
        let a = Tensor::<2>::from_floats([[1.0, 2.0], [3.0, 4.0]], device);
        let b = Tensor::<2>::from_floats([[5.0, 6.0], [7.0, 8.0]], device);
        a.matmul(b).into_data().try_into_vec_as::<f32>()
    });
    match std::panic::catch_unwind(run) {
        Ok(Ok(product)) if product == [19.0, 22.0, 43.0, 50.0] => Ok(()),
        Ok(Ok(product)) => Err(format!("a 2 x 2 product came out as {product:?}, expected [19, 22, 43, 50]")),
        Ok(Err(e)) => Err(format!("reading a result back failed: {e:?}")),
        Err(_) => Err("the device panicked on a 2 x 2 product".into()),
    }
}

/// Drives a future that resolves without waiting on anything external (wgpu's native adapter
/// enumeration), so no async runtime is needed.
fn block_on<F: std::future::Future>(future: F) -> F::Output {
    use std::task::{Context, Poll, Waker};
    let mut future = std::pin::pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
        std::thread::yield_now();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_is_always_available_and_computes() {
        let selected = select(BackendChoice::Cpu, "test").unwrap();
        assert_eq!(selected.kind, BackendKind::Cpu);
        assert_eq!(smoke_test(&selected.device), Ok(()));
    }

    #[test]
    fn auto_prefers_hardware_and_otherwise_cpu() {
        let selected = select(BackendChoice::Auto, "test").unwrap();
        let expect = if adapters().iter().any(|a| a.hardware) { BackendKind::Wgpu } else { BackendKind::Cpu };
        assert_eq!(selected.kind, expect);
    }

    #[test]
    fn wgpu_runs_or_fails_with_a_config_error() {
        match select(BackendChoice::Wgpu, "test") {
            Ok(selected) => {
                assert!(!adapters().is_empty());
                assert_eq!(selected.kind, BackendKind::Wgpu);
                assert!(selected.adapter.is_some());
                assert_eq!(smoke_test(&selected.device), Ok(()));
            }
            Err(e) => {
                assert_eq!(e.exit_code(), crate::error::EXIT_BAD_INPUT);
                assert!(e.to_string().contains("run.backend"), "{e}");
            }
        }
    }
}
