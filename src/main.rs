//! The `contrada` command line: parses arguments, sets up logging, runs a command and turns any
//! error into one message and an exit code (0 ok, 2 bad usage/configuration/input, 75 locked, 1 other).

mod cli;

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};

fn main() -> ExitCode {
    quiet_graphics_stack();
    cpu_default_device();
    // Like other Unix tools, end quietly when the reader of stdout goes away (`contrada status | head`).
    // SAFETY: restoring the default disposition of a signal before any thread exists.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    // `--obs-error-std -0.5` must reach the option's own range check, not be taken for a flag.
    let command = cli::Cli::command().mut_subcommands(|c| c.allow_negative_numbers(true));
    let args = match command.try_get_matches().and_then(|m| cli::Cli::from_arg_matches(&m)) {
        Ok(args) => args,
        Err(e) => {
            // clap prints help/version to stdout (exit 0) and usage errors to stderr (exit 2).
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { contrada::error::EXIT_BAD_INPUT as u8 } else { 0 });
        }
    };
    cli::init_logging(args.verbose, args.quiet);
    match cli::execute(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code() as u8)
        }
    }
}

/// burn creates tensors on its default device where it takes no device argument: loading Adam's
/// state when training resumes from a checkpoint (the state moves to the training device at the
/// next step). That default is wgpu when compiled in, and burn's wgpu runtime panics on a machine
/// without an adapter; the CPU backend works everywhere. A user's BURN_DEVICE is left alone.
fn cpu_default_device() {
    if std::env::var_os("BURN_DEVICE").is_none() {
        // SAFETY: called first thing in main, before any thread exists.
        unsafe { std::env::set_var("BURN_DEVICE", "flex") };
    }
}

/// Mesa's Vulkan loader (probed when choosing the learning backend) complains on stderr when
/// XDG_RUNTIME_DIR is unset, as under cron; give it a private directory instead. One directory per
/// user, reused by every run, so that cron jobs do not leave a directory behind each time.
fn quiet_graphics_stack() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    if std::env::var_os("XDG_RUNTIME_DIR").is_some() {
        return;
    }
    // SAFETY: getuid has no preconditions and cannot fail.
    let uid = unsafe { libc::getuid() };
    let dir = std::env::temp_dir().join(format!("contrada-runtime-{uid}"));
    let _ = std::fs::create_dir(&dir);
    // Only a directory we own may serve: another user could have planted one.
    let ours = std::fs::symlink_metadata(&dir).is_ok_and(|m| m.is_dir() && m.uid() == uid);
    if ours && std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).is_ok() {
        // SAFETY: called first thing in main, before any thread exists.
        unsafe { std::env::set_var("XDG_RUNTIME_DIR", &dir) };
    }
}
