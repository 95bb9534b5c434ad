//! `contrada backends`: backend selection through the binary, including a machine without any
//! wgpu adapter (simulated by pointing the Vulkan loader and glvnd's EGL at no driver).

use std::process::{Command, Output};

fn contrada(args: &[&str], hide_adapters: bool) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_contrada"));
    cmd.args(args);
    if hide_adapters {
        cmd.env("VK_ICD_FILENAMES", "/nonexistent/icd.json").env("__EGL_VENDOR_LIBRARY_FILENAMES", "/nonexistent/egl.json");
    }
    cmd.output().expect("run contrada")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn cpu_backend_is_always_selected_and_works() {
    let out = contrada(&["backends", "--backend", "cpu"], false);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("backend cpu: cpu (burn flex)"), "{}", text(&out.stdout));
}

#[test]
fn without_adapters_wgpu_is_a_clear_configuration_error_and_auto_uses_the_cpu() {
    let out = contrada(&["backends", "--backend", "wgpu"], true);
    assert!(text(&out.stdout).contains("wgpu adapters: none"), "{}", text(&out.stdout));
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(err.contains("key `run.backend`") && err.contains("finds no adapter") && err.contains("`cpu`"), "{err}");
    assert!(!err.contains("panicked"), "{err}");

    let out = contrada(&["backends"], true);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("backend auto: cpu (burn flex)"), "{}", text(&out.stdout));
}

#[test]
fn wgpu_runs_where_an_adapter_exists() {
    let out = contrada(&["backends", "--backend", "wgpu"], false);
    let stdout = text(&out.stdout);
    if stdout.contains("wgpu adapters: none") {
        assert_eq!(out.status.code(), Some(2));
    } else {
        // CI and the development machine have Mesa's lavapipe: wgpu must come up and compute.
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        assert!(stdout.contains("backend wgpu: wgpu on "), "{stdout}");
    }
}
