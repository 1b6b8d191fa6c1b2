//! Gives the shared library a SONAME on Linux and Android, so an app that
//! links it by path (CMake's imported targets do) records only its name.

fn main() {
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if os == "linux" || os == "android" {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libchatvault_ffi.so");
    }
}
