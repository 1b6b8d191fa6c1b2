//! The Kotlin package (ffi/kotlin/chatvault, JNA over the C API) on the JVM:
//! its sources and its test suite are compiled with `kotlinc` into one jar
//! under the target directory (reused while no source is newer), then run
//! with `java` against the cdylib this test run built (`jna.library.path`
//! pointing at it). The suite prints a PASS or FAIL line per test and exits
//! nonzero on any failure, which fails this test with its output shown.
//!
//! Needs Debian's `kotlin` and `libjna-java` packages (kotlinc, java and
//! /usr/share/java/jna.jar; `CHATVAULT_JNA_JAR` names another jar). Where
//! one is missing the test says so and passes, unless `CHATVAULT_CI` is set
//! (`.ci/run` sets it and installs them), when it fails.
//! `CHATVAULT_FFI_LIB_DIR` points it at another build of the library, as in
//! tests/foreign.rs.
//!
//! The library's size of every struct of the header (its Rust `size_of`,
//! which the header's `struct_size` rule compares against) is passed to the
//! suite as `-Dchatvault.sizes=name=size,...`; the suite checks that
//! Raw.kt lays out each struct at exactly that size.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

fn manifest() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn dynamic_lib_name() -> String {
    format!("{}chatvault_ffi{}", std::env::consts::DLL_PREFIX, std::env::consts::DLL_SUFFIX)
}

/// The directory holding the cdylib: `CHATVAULT_FFI_LIB_DIR`, else beside
/// this test binary in `target/<profile>/deps/` (then its parent).
fn library_dir() -> PathBuf {
    let name = dynamic_lib_name();
    if let Some(dir) = std::env::var_os("CHATVAULT_FFI_LIB_DIR") {
        let dir = PathBuf::from(dir);
        let dir = if dir.is_relative() { manifest().join("..").join(dir) } else { dir };
        assert!(dir.join(&name).exists(), "CHATVAULT_FFI_LIB_DIR: no {name} in {}", dir.display());
        return dir;
    }
    let exe = std::env::current_exe().expect("the test binary's path");
    let deps = exe.parent().expect("target/<profile>/deps").to_path_buf();
    let candidates = [deps.clone(), deps.parent().map(Path::to_path_buf).unwrap_or_default()];
    candidates.into_iter().find(|d| d.join(&name).exists()).unwrap_or_else(|| {
        panic!("{name} is missing from {} and its parent: build chatvault-ffi first", deps.display())
    })
}

/// Where the compiled jar goes: `target/<profile>/kotlin/`.
fn output_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let profile = exe.parent().and_then(Path::parent).expect("target/<profile>");
    profile.join("kotlin")
}

/// `(C name, size)` of each struct of the header, from the library's own types.
macro_rules! sizes {
    ($($t:ident),* $(,)?) => {
        vec![$((stringify!($t), std::mem::size_of::<chatvault_ffi::$t>())),*]
    };
}

fn struct_sizes() -> Vec<(&'static str, usize)> {
    sizes!(
        chatvault_key,
        chatvault_str,
        chatvault_bytes,
        chatvault_message_id,
        chatvault_search_cursor,
        chatvault_match_range,
        chatvault_store_options,
        chatvault_kdf_params,
        chatvault_export_options,
        chatvault_import_options,
        chatvault_match_list,
        chatvault_text,
        chatvault_rotate_options,
        chatvault_new_conversation,
        chatvault_conversation_changes,
        chatvault_new_message,
        chatvault_batch_entry,
        chatvault_compact_options,
        chatvault_html_options,
        chatvault_search_query,
        chatvault_new_attachment,
        chatvault_attachment_filter,
        chatvault_rotation_report,
        chatvault_stats,
        chatvault_compact_report,
        chatvault_export_report,
        chatvault_import_report,
        chatvault_html_report,
        chatvault_index_report,
        chatvault_clear_report,
        chatvault_conversation,
        chatvault_message,
        chatvault_conversation_summary,
        chatvault_conversation_list,
        chatvault_message_page,
        chatvault_attachment_list,
        chatvault_storage_usage_list,
        chatvault_compact_progress,
        chatvault_problem,
        chatvault_verify_report,
        chatvault_archive_progress,
        chatvault_archived_conversation,
        chatvault_archive_summary,
        chatvault_search_hit,
        chatvault_search_page,
        chatvault_attachment,
        chatvault_conversation_usage,
    )
}

fn header() -> String {
    std::fs::read_to_string(manifest().join("include/chatvault.h")).expect("read the header")
}

fn required() -> bool {
    std::env::var_os("CHATVAULT_CI").is_some()
}

/// Says why the suite cannot run: a failure in CI, a printed skip elsewhere.
fn skip(reason: &str) {
    assert!(!required(), "{reason}, and CHATVAULT_CI is set (.ci/run installs kotlin and libjna-java)");
    eprintln!("SKIPPED: {reason} (apt-get install kotlin libjna-java)");
}

fn runs(tool: &str, arg: &str) -> bool {
    Command::new(tool).arg(arg).output().is_ok_and(|o| o.status.success())
}

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("reading {}: {e}", dir.display())) {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "kt") {
            out.push(path);
        }
    }
}

fn module() -> PathBuf {
    manifest().join("kotlin/chatvault/src")
}

fn modified(path: &Path) -> SystemTime {
    std::fs::metadata(path).and_then(|m| m.modified()).unwrap_or(SystemTime::UNIX_EPOCH)
}

/// Compiles the package and its suite into one jar with the Kotlin runtime,
/// unless a jar newer than every source is there already.
fn compile(jna: &Path) -> PathBuf {
    let mut files = Vec::new();
    sources(&module(), &mut files);
    assert!(files.len() >= 2, "no Kotlin sources under {}", module().display());
    let out = output_dir();
    std::fs::create_dir_all(&out).expect("create the jar's directory");
    let jar = out.join("chatvault-kotlin-tests.jar");
    let newest = files.iter().map(|f| modified(f)).max().unwrap_or(SystemTime::UNIX_EPOCH);
    if jar.exists() && modified(&jar) > newest {
        return jar;
    }
    let partial = out.join(format!("chatvault-kotlin-tests.{}.jar", std::process::id()));
    let result = Command::new("kotlinc")
        .args(&files)
        .arg("-cp")
        .arg(jna)
        .arg("-include-runtime")
        .arg("-d")
        .arg(&partial)
        .output()
        .expect("run kotlinc");
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(result.status.success() && partial.exists(), "kotlinc failed ({}):\n{stderr}", result.status);
    std::fs::rename(&partial, &jar).expect("move the jar into place");
    jar
}

#[test]
fn kotlin_suite_passes_on_the_jvm() {
    if !runs("kotlinc", "-version") {
        return skip("kotlinc is not installed");
    }
    if !runs("java", "-version") {
        return skip("java is not installed");
    }
    let jna = std::env::var_os("CHATVAULT_JNA_JAR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/share/java/jna.jar"));
    if !jna.exists() {
        return skip(&format!("JNA is missing ({})", jna.display()));
    }
    let lib = library_dir();
    let jar = compile(&jna);
    let scratch = tempfile::tempdir().expect("a scratch directory");
    let mut classpath = std::ffi::OsString::from(&jar);
    classpath.push(":");
    classpath.push(&jna);
    let sizes: Vec<String> = struct_sizes().iter().map(|(name, size)| format!("{name}={size}")).collect();
    let out = Command::new("java")
        // A fixed heap, touched up front: the suite's leak test reads the
        // process's resident size, which heap growth would otherwise blur.
        .args(["-Xms64m", "-Xmx64m", "-XX:+AlwaysPreTouch"])
        .arg(format!("-Djna.library.path={}", lib.display()))
        .arg(format!("-Dchatvault.sizes={}", sizes.join(",")))
        .arg("-cp")
        .arg(&classpath)
        .arg("org.chatvault.ChatVaultTestKt")
        .arg(scratch.path())
        // A JVM crash (a native bug) writes its hs_err log here, not in ffi/.
        .current_dir(scratch.path())
        .output()
        .expect("run java");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("kotlin suite: all"),
        "the Kotlin suite failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        out.status
    );
    print!("{stdout}");
}

/// Every function of the header is declared in Raw.kt and called by the
/// idiomatic layer: the Kotlin package has no gap.
#[test]
fn kotlin_package_binds_and_calls_every_function_in_the_header() {
    let header = header();
    let functions: Vec<&str> = header
        .lines()
        .filter_map(|l| ["chatvault_status ", "void ", "const char *"].iter().find_map(|t| l.strip_prefix(t)))
        .filter_map(|rest| rest.split_once('(').map(|(name, _)| name))
        .collect();
    assert!(functions.len() >= 30, "found only {functions:?} in the header");
    let main = module().join("main/kotlin/org/chatvault");
    let raw = std::fs::read_to_string(main.join("Raw.kt")).expect("read Raw.kt");
    let mut files = Vec::new();
    sources(&main, &mut files);
    let mut callers = String::new();
    for f in files.iter().filter(|f| !f.ends_with("Raw.kt")) {
        callers.push_str(&std::fs::read_to_string(f).expect("read a source"));
    }
    // Raw.kt's own helpers call the three string functions.
    callers.push_str(raw.split("interface ChatVaultLibrary").next().unwrap_or(""));
    let undeclared: Vec<&&str> = functions.iter().filter(|f| !raw.contains(&format!("fun {f}("))).collect();
    assert!(undeclared.is_empty(), "Raw.kt does not declare {undeclared:?}");
    let uncalled: Vec<&&str> = functions
        .iter()
        .filter(|f| !callers.contains(&format!("lib.{f}(")) && !callers.contains(&format!("lib::{f}")))
        .collect();
    assert!(uncalled.is_empty(), "the Kotlin package never calls {uncalled:?}");
}

/// Every struct the header defines (not the opaque handles) is in
/// [`struct_sizes`], so the suite measures each one against the library.
#[test]
fn every_struct_of_the_header_is_measured() {
    let header = header();
    let mut defined: Vec<&str> =
        header.lines().filter_map(|l| l.strip_prefix("typedef struct ")?.strip_suffix(" {")).collect();
    defined.sort_unstable();
    let mut measured: Vec<&str> = struct_sizes().iter().map(|(name, _)| *name).collect();
    measured.sort_unstable();
    assert!(defined.len() >= 40, "found only {defined:?} in the header");
    assert_eq!(defined, measured, "struct_sizes() must list exactly the header's structs");
}
