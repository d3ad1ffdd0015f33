//! Stamps the git revision into the binary for `engine_build_info`.

fn main() {
    let revision = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|out| out.status.success())
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .map(|text| text.trim().to_owned())
        .filter(|text| !text.is_empty());
    if let Some(revision) = revision {
        println!("cargo:rustc-env=ENGINE_GIT_REVISION={revision}");
    }
    // A new commit changes HEAD's target; re-run then, not on every edit.
    println!("cargo:rerun-if-changed=../.git/HEAD");
    println!("cargo:rerun-if-changed=../.git/refs/heads");
}
