//! The Dockerfile as a user builds it: every base image pinned by digest, the binaries built by
//! the one build script (hack/build-static.sh, the same for every target and for the kind tier),
//! which the build context lets in.

fn read(file: &str) -> String {
    let path = format!("{}/{file}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// `name:tag@sha256:<64 hex>`.
fn pinned(image: &str) -> bool {
    let Some((name, digest)) = image.split_once("@sha256:") else {
        return false;
    };
    name.rsplit('/')
        .next()
        .is_some_and(|last| last.contains(':'))
        && digest.len() == 64
        && digest
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

#[test]
fn every_base_image_is_pinned_by_digest() {
    let dockerfile = read("Dockerfile");
    let args: Vec<(&str, &str)> = dockerfile
        .lines()
        .filter_map(|l| l.strip_prefix("ARG "))
        .filter_map(|a| a.split_once('='))
        .collect();
    let mut bases = 0;
    for line in dockerfile.lines().filter(|l| l.starts_with("FROM ")) {
        // FROM [--platform=...] IMAGE [AS NAME]
        let image = line
            .split_whitespace()
            .skip(1)
            .find(|w| !w.starts_with("--"))
            .unwrap();
        let image = match image.strip_prefix("${").and_then(|i| i.strip_suffix('}')) {
            Some(arg) => args
                .iter()
                .find(|(name, _)| *name == arg)
                .map(|(_, default)| *default)
                .unwrap_or_else(|| panic!("{line}: no default for {arg}")),
            // a stage of this file
            None if dockerfile.contains(&format!(" AS {image}")) => continue,
            None => image,
        };
        assert!(
            pinned(image),
            "{line}: the base {image} is not pinned by digest"
        );
        bases += 1;
    }
    assert_eq!(bases, 3, "builder, simulator and operator stages");
    assert!(!pinned("gcr.io/distroless/static-debian12:nonroot"));
    assert!(!pinned("rust@sha256:0123"));
}

#[test]
fn the_builder_builds_with_the_build_script_the_context_lets_in() {
    let dockerfile = read("Dockerfile");
    assert!(dockerfile.contains("COPY hack/build-static.sh ./hack/"));
    assert!(dockerfile.contains("hack/build-static.sh \"${RUST_TARGET}\" /out"));
    let ignore = read(".dockerignore");
    let lines: Vec<&str> = ignore.lines().collect();
    let excluded = lines.iter().position(|l| *l == "hack/").unwrap();
    let included = lines
        .iter()
        .position(|l| *l == "!hack/build-static.sh")
        .expect(".dockerignore lets hack/build-static.sh in");
    assert!(included > excluded, "the exception must follow hack/");
    assert!(read("tests/kind/images.sh").contains("hack/build-static.sh"));
}

#[test]
fn the_builder_copies_every_workspace_member() {
    // cargo reads every member's manifest: a member missing from the builder stage fails the
    // image build, however unrelated to the image it is.
    let dockerfile = read("Dockerfile");
    let manifest = read("Cargo.toml");
    let start = manifest.find("members = [").expect("workspace members") + "members = [".len();
    let members: Vec<&str> = manifest[start..start + manifest[start..].find(']').unwrap()]
        .split(',')
        .map(|m| m.trim().trim_matches('"'))
        .filter(|m| !m.is_empty() && *m != ".")
        .collect();
    assert!(members.len() >= 5, "{members:?}");
    let ignore = read(".dockerignore");
    for member in members {
        assert!(
            dockerfile.contains(&format!("COPY {member} ./{member}\n")),
            "the Dockerfile's builder does not COPY {member}"
        );
        assert!(
            !ignore.lines().any(|l| l.trim_end_matches('/') == member),
            ".dockerignore leaves {member} out"
        );
    }
    assert!(dockerfile.contains("COPY src ./src\n"));
}
