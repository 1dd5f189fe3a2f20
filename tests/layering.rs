//! The files of `src/` (the library, and the command-line tool), of
//! `capi/src/` (the C ABI) and of `python/src/` (the Python module)
//! import one another one way only: no file imports, directly or through
//! others, a file that imports it. (`serve/src/` is not yet one way.)
//!
//! An import is any path that names an item of the crate (`use crate::…`,
//! `super::…`, `self::…`, a name brought in by a `use`, in code or in a
//! macro's tokens), resolved to the file that *defines* the item: a
//! `mod.rs` that only re-exports a name (`pub use child::Name`) hands the
//! arrow on to the child. A file's own inline modules (`mod tests { … }`)
//! are the file. `cargo test --test layering -- --nocapture` prints every
//! arrow with the names it carries.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use syn::visit::Visit;

/// One module: where its code is, what it defines, what its `use`s bring
/// in (a name → the path it stands for; globs kept apart).
#[derive(Default)]
struct Module {
    file: PathBuf,
    children: BTreeMap<String, Vec<String>>,
    defines: BTreeSet<String>,
    uses: BTreeMap<String, Vec<String>>,
    globs: Vec<Vec<String>>,
    /// The names of `uses` and `globs` brought in by a `pub use` (any
    /// visibility but private): handed on, not read here.
    exported: BTreeSet<Vec<String>>,
}

/// A crate's modules by path (`["crate", "encode", "plan"]`), and the
/// paths each file names, with the module each is named from.
#[derive(Default)]
struct Crate {
    modules: BTreeMap<Vec<String>, Module>,
    named: Vec<(PathBuf, Vec<String>, Vec<String>)>,
}

/// Reads the crate whose root file is `root`, following `mod name;`.
fn read_crate(root: &Path) -> Crate {
    let mut krate = Crate::default();
    read_file(
        &mut krate,
        root,
        vec!["crate".to_string()],
        root.parent().expect("a folder"),
    );
    krate
}

/// Reads `file` as module `path`; its child modules' files are in `dir`.
fn read_file(krate: &mut Crate, file: &Path, path: Vec<String>, dir: &Path) {
    let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let ast = syn::parse_file(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    read_items(krate, file, &path, dir, &ast.items);
}

fn read_items(krate: &mut Crate, file: &Path, path: &[String], dir: &Path, items: &[syn::Item]) {
    let mut module = Module {
        file: file.to_path_buf(),
        ..Module::default()
    };
    let mut nested = Vec::new();
    for item in items {
        match item {
            syn::Item::Mod(m) => {
                let name = m.ident.to_string();
                let mut child = path.to_vec();
                child.push(name.clone());
                module.children.insert(name.clone(), child.clone());
                nested.push((m, child));
            }
            syn::Item::Use(u) => {
                let before: BTreeSet<Vec<String>> =
                    module.uses.values().chain(&module.globs).cloned().collect();
                flatten_use(&u.tree, Vec::new(), &mut module);
                if !matches!(u.vis, syn::Visibility::Inherited) {
                    let added: Vec<Vec<String>> = module
                        .uses
                        .values()
                        .chain(&module.globs)
                        .filter(|p| !before.contains(*p))
                        .cloned()
                        .collect();
                    module.exported.extend(added);
                }
            }
            other => {
                if let Some(name) = defined_name(other) {
                    module.defines.insert(name);
                }
            }
        }
    }
    // Every path the module's own code names (nested modules' code is
    // visited as theirs).
    let mut names = Names::default();
    for item in items.iter().filter(|i| !matches!(i, syn::Item::Mod(_))) {
        names.visit_item(item);
    }
    for p in names.paths {
        krate.named.push((file.to_path_buf(), path.to_vec(), p));
    }
    krate.modules.insert(path.to_vec(), module);
    for (m, child) in nested {
        let name = m.ident.to_string();
        match &m.content {
            Some((_, items)) => read_items(krate, file, &child, &dir.join(&name), items),
            None => {
                let flat = dir.join(format!("{name}.rs"));
                let (found, sub) = if flat.exists() {
                    (flat, dir.join(&name))
                } else {
                    (dir.join(&name).join("mod.rs"), dir.join(&name))
                };
                read_file(krate, &found, child, &sub);
            }
        }
    }
}

/// The name an item defines in its module's namespace.
fn defined_name(item: &syn::Item) -> Option<String> {
    Some(match item {
        syn::Item::Const(i) => i.ident.to_string(),
        syn::Item::Enum(i) => i.ident.to_string(),
        syn::Item::Fn(i) => i.sig.ident.to_string(),
        syn::Item::Macro(i) => i.ident.as_ref()?.to_string(),
        syn::Item::Static(i) => i.ident.to_string(),
        syn::Item::Struct(i) => i.ident.to_string(),
        syn::Item::Trait(i) => i.ident.to_string(),
        syn::Item::TraitAlias(i) => i.ident.to_string(),
        syn::Item::Type(i) => i.ident.to_string(),
        syn::Item::Union(i) => i.ident.to_string(),
        _ => return None,
    })
}

/// A `use` tree's leaves into `module.uses` (name → path) and globs.
fn flatten_use(tree: &syn::UseTree, mut prefix: Vec<String>, module: &mut Module) {
    match tree {
        syn::UseTree::Path(p) => {
            prefix.push(p.ident.to_string());
            flatten_use(&p.tree, prefix, module);
        }
        syn::UseTree::Name(n) => {
            let name = n.ident.to_string();
            if name == "self" {
                if let Some(last) = prefix.last().cloned() {
                    module.uses.insert(last, prefix);
                }
            } else {
                prefix.push(name.clone());
                module.uses.insert(name, prefix);
            }
        }
        syn::UseTree::Rename(r) => {
            prefix.push(r.ident.to_string());
            module.uses.insert(r.rename.to_string(), prefix);
        }
        syn::UseTree::Glob(_) => module.globs.push(prefix),
        syn::UseTree::Group(g) => {
            for t in &g.items {
                flatten_use(t, prefix.clone(), module);
            }
        }
    }
}

/// Every multi-segment path in code, and `crate::…`/`super::…` paths in
/// macros' tokens (where syn sees no paths).
#[derive(Default)]
struct Names {
    paths: Vec<Vec<String>>,
}

impl<'ast> Visit<'ast> for Names {
    fn visit_path(&mut self, p: &'ast syn::Path) {
        let segments: Vec<String> = p.segments.iter().map(|s| s.ident.to_string()).collect();
        self.paths.push(segments);
        syn::visit::visit_path(self, p);
    }

    fn visit_visibility(&mut self, _: &'ast syn::Visibility) {
        // `pub(crate)`, `pub(super)`: no item named.
    }

    fn visit_item_use(&mut self, _: &'ast syn::ItemUse) {
        // Read by `flatten_use`: each `use` is an arrow of its own.
    }

    fn visit_macro(&mut self, m: &'ast syn::Macro) {
        scan_tokens(m.tokens.clone(), 0, &mut self.paths);
        // The macro's own path: only a multi-segment one names an item
        // (`write!` is std's, whatever module `write` is here).
        if m.path.segments.len() > 1 {
            self.visit_path(&m.path);
        }
    }
}

/// The `crate::…` and `super::…` paths in a macro's tokens. `depth`
/// counts the modules the macro's own tokens open around them
/// (`mod $name { … }`): a `super` inside one is the module the macro is
/// used in.
fn scan_tokens(stream: proc_macro2::TokenStream, depth: usize, paths: &mut Vec<Vec<String>>) {
    use proc_macro2::{Delimiter, TokenTree};
    let tokens: Vec<TokenTree> = stream.into_iter().collect();
    let mut i = 0;
    while i < tokens.len() {
        match &tokens[i] {
            TokenTree::Group(g) => {
                // `mod NAME {` or `mod $NAME {` just before: one module deeper.
                let opens_mod = g.delimiter() == Delimiter::Brace
                    && (i >= 2 && is_ident(&tokens[i - 2], "mod")
                        || i >= 3 && is_ident(&tokens[i - 3], "mod") && is_punct(&tokens[i - 2], '$'));
                scan_tokens(g.stream(), depth + usize::from(opens_mod), paths);
                i += 1;
            }
            TokenTree::Ident(id) if id == "crate" || id == "super" => {
                let mut path = vec![id.to_string()];
                let mut j = i + 1;
                while is_punct(tokens.get(j).unwrap_or(&tokens[i]), ':')
                    && tokens.get(j + 1).is_some_and(|t| is_punct(t, ':'))
                {
                    match tokens.get(j + 2) {
                        Some(TokenTree::Ident(id)) => path.push(id.to_string()),
                        _ => break,
                    }
                    j += 3;
                }
                // `path::{a, b::c}` (a `use` in the macro): each of them.
                let mut group = Vec::new();
                if let (Some(a), Some(b), Some(TokenTree::Group(g))) =
                    (tokens.get(j), tokens.get(j + 1), tokens.get(j + 2))
                {
                    if is_punct(a, ':') && is_punct(b, ':') && g.delimiter() == Delimiter::Brace {
                        let inner: Vec<TokenTree> = g.stream().into_iter().collect();
                        for element in inner.split(|t| is_punct(t, ',')) {
                            let names: Vec<String> = element
                                .iter()
                                .filter_map(|t| match t {
                                    TokenTree::Ident(id) => Some(id.to_string()),
                                    _ => None,
                                })
                                .collect();
                            if !names.is_empty() {
                                group.push(names);
                            }
                        }
                        j += 3;
                    }
                }
                let whole: Vec<Vec<String>> = if group.is_empty() {
                    vec![path]
                } else {
                    group
                        .into_iter()
                        .map(|g| path.iter().cloned().chain(g).collect())
                        .collect()
                };
                for mut path in whole.into_iter().filter(|p| p.len() > 1) {
                    let supers = path.iter().take_while(|s| *s == "super").count();
                    let dropped = supers.min(depth);
                    if dropped > 0 {
                        path.drain(..dropped);
                        if dropped == supers {
                            path.insert(0, "self".into());
                        }
                    }
                    paths.push(path);
                }
                i = j.max(i + 1);
            }
            _ => i += 1,
        }
    }
}

fn is_ident(t: &proc_macro2::TokenTree, name: &str) -> bool {
    matches!(t, proc_macro2::TokenTree::Ident(id) if id == name)
}

fn is_punct(t: &proc_macro2::TokenTree, c: char) -> bool {
    matches!(t, proc_macro2::TokenTree::Punct(p) if p.as_char() == c)
}

impl Crate {
    /// The file that defines what `path` names from module `from`, and
    /// the item's name; `None` for a path outside the crate.
    fn resolve(&self, from: &[String], path: &[String], depth: usize) -> Option<(PathBuf, String)> {
        if depth > 16 || path.is_empty() {
            return None;
        }
        let module = self.modules.get(from)?;
        let (mut at, rest): (Vec<String>, &[String]) = match path[0].as_str() {
            "crate" => (vec!["crate".into()], &path[1..]),
            "self" => (from.to_vec(), &path[1..]),
            "super" => {
                let mut up = from.to_vec();
                let mut rest = path;
                while rest.first().map(String::as_str) == Some("super") {
                    up.pop();
                    rest = &rest[1..];
                }
                (up, rest)
            }
            first => {
                if path.len() == 1 && module.defines.contains(first) {
                    // The module's own item (a function may share its name
                    // with a child module: another namespace).
                    return Some((module.file.clone(), first.to_string()));
                }
                if let Some(target) = module.uses.get(first) {
                    let mut whole = target.clone();
                    whole.extend_from_slice(&path[1..]);
                    return self.resolve(from, &whole, depth + 1);
                }
                if module.children.contains_key(first) {
                    (from.to_vec(), path)
                } else {
                    // A name a glob brought in, if any glob has it.
                    return module.globs.iter().find_map(|glob| {
                        let mut whole = glob.clone();
                        whole.extend_from_slice(path);
                        self.resolve(from, &whole, depth + 1)
                    });
                }
            }
        };
        for (i, segment) in rest.iter().enumerate() {
            let m = self.modules.get(&at)?;
            if let Some(child) = m.children.get(segment) {
                at = child.clone();
                continue;
            }
            if m.defines.contains(segment) {
                return Some((m.file.clone(), segment.clone()));
            }
            if let Some(target) = m.uses.get(segment) {
                let mut whole = target.clone();
                whole.extend_from_slice(&rest[i + 1..]);
                return self.resolve(&at, &whole, depth + 1);
            }
            for glob in &m.globs {
                let mut whole = glob.clone();
                whole.extend_from_slice(&rest[i..]);
                if let Some(found) = self.resolve(&at, &whole, depth + 1) {
                    return Some(found);
                }
            }
            return Some((m.file.clone(), segment.clone()));
        }
        // The path names a module itself: its file.
        let m = self.modules.get(&at)?;
        Some((m.file.clone(), at.last()?.clone()))
    }

    /// Every arrow between two files: from → to → the names it carries.
    /// A `pub use` of another file's item counts as an arrow too.
    fn arrows(&self) -> BTreeMap<PathBuf, BTreeMap<PathBuf, BTreeSet<String>>> {
        let mut arrows: BTreeMap<PathBuf, BTreeMap<PathBuf, BTreeSet<String>>> = BTreeMap::new();
        let mut add = |from: &Path, to: PathBuf, name: String| {
            if from != to {
                arrows
                    .entry(from.to_path_buf())
                    .or_default()
                    .entry(to)
                    .or_default()
                    .insert(name);
            }
        };
        for (file, module, path) in &self.named {
            if let Some((to, name)) = self.resolve(module, path, 0) {
                add(file, to, name);
            }
        }
        // Every private `use` is an arrow of its own, read or not (a
        // trait's methods are called without naming it), and every glob
        // to the module it opens. A `pub use` hands a name on: no arrow
        // of its file's own (its readers' arrows go through it).
        for (path, m) in &self.modules {
            for target in m
                .uses
                .values()
                .chain(&m.globs)
                .filter(|t| !m.exported.contains(*t))
            {
                if let Some((to, item)) = self.resolve(path, target, 0) {
                    add(&m.file, to, item);
                }
            }
        }
        arrows
    }
}

/// The groups of files that reach each other (Tarjan's strongly
/// connected components of more than one file).
fn circles(arrows: &BTreeMap<PathBuf, BTreeMap<PathBuf, BTreeSet<String>>>) -> Vec<Vec<PathBuf>> {
    struct State<'a> {
        arrows: &'a BTreeMap<PathBuf, BTreeMap<PathBuf, BTreeSet<String>>>,
        index: HashMap<&'a Path, usize>,
        low: HashMap<&'a Path, usize>,
        stack: Vec<&'a Path>,
        on_stack: BTreeSet<&'a Path>,
        found: Vec<Vec<PathBuf>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a Path) {
        let i = s.index.len();
        s.index.insert(v, i);
        s.low.insert(v, i);
        s.stack.push(v);
        s.on_stack.insert(v);
        if let Some(out) = s.arrows.get(v) {
            for w in out.keys() {
                let w = w.as_path();
                if !s.index.contains_key(w) {
                    visit(s, w);
                    let lw = s.low[w];
                    let lv = s.low.get_mut(v).expect("visited");
                    *lv = (*lv).min(lw);
                } else if s.on_stack.contains(w) {
                    let iw = s.index[w];
                    let lv = s.low.get_mut(v).expect("visited");
                    *lv = (*lv).min(iw);
                }
            }
        }
        if s.low[v] == s.index[v] {
            let mut group = Vec::new();
            loop {
                let w = s.stack.pop().expect("on the stack");
                s.on_stack.remove(w);
                group.push(w.to_path_buf());
                if w == v {
                    break;
                }
            }
            if group.len() > 1 {
                group.sort();
                s.found.push(group);
            }
        }
    }
    let mut s = State {
        arrows,
        index: HashMap::new(),
        low: HashMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        found: Vec::new(),
    };
    for v in arrows.keys() {
        if !s.index.contains_key(v.as_path()) {
            visit(&mut s, v);
        }
    }
    s.found
}

/// The crate rooted at `root`: its arrows printed, and its circles, each
/// with the arrows inside it, as one message (empty: none).
fn check(root: &Path) -> String {
    let krate = read_crate(root);
    let arrows = krate.arrows();
    let base = root.parent().expect("a folder");
    let short = |p: &Path| p.strip_prefix(base).unwrap_or(p).display().to_string();
    for (from, out) in &arrows {
        for (to, names) in out {
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            println!("{} -> {}: {}", short(from), short(to), names.join(", "));
        }
    }
    let mut message = String::new();
    for group in circles(&arrows) {
        message.push_str(&format!("a circle of {} files:\n", group.len()));
        for from in &group {
            for (to, names) in &arrows[from] {
                if group.contains(to) {
                    let names: Vec<&str> = names.iter().map(String::as_str).collect();
                    message.push_str(&format!(
                        "  {} -> {}: {}\n",
                        short(from),
                        short(to),
                        names.join(", ")
                    ));
                }
            }
        }
    }
    message
}

/// The crate rooted at `root` (from the repository's folder) has no
/// circle; else the circles, under `what`.
fn assert_one_way(root: &str, what: &str) {
    let circles = check(&Path::new(env!("CARGO_MANIFEST_DIR")).join(root));
    assert!(circles.is_empty(), "{what}:\n{circles}");
}

#[test]
fn no_file_of_the_library_imports_a_file_that_imports_it() {
    assert_one_way("src/lib.rs", "src/ (the library)");
}

#[test]
fn no_file_of_the_command_line_tool_imports_a_file_that_imports_it() {
    assert_one_way("src/main.rs", "src/main.rs and src/cli/");
}

#[test]
fn no_file_of_the_c_abi_imports_a_file_that_imports_it() {
    assert_one_way("capi/src/lib.rs", "capi/src/");
}

#[test]
fn no_file_of_the_python_module_imports_a_file_that_imports_it() {
    assert_one_way("python/src/lib.rs", "python/src/");
}

/// Writes `files` (path, text) under a new folder: a crate to check.
fn scratch_crate(name: &str, files: &[(&str, &str)]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("bprwire-layering-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    for (path, text) in files {
        let p = dir.join(path);
        std::fs::create_dir_all(p.parent().expect("a folder")).expect("mkdir");
        std::fs::write(p, text).expect("write");
    }
    dir
}

#[test]
fn a_circle_through_a_re_export_and_a_macro_is_found_and_named() {
    // low.rs names high.rs's item inside a macro; high.rs imports low.rs
    // through mod.rs's re-export: a circle of two files (mod.rs only
    // hands the name on).
    let dir = scratch_crate(
        "circle",
        &[
            ("lib.rs", "mod m;\n"),
            ("m/mod.rs", "mod high;\nmod low;\npub use low::Low;\n"),
            (
                "m/low.rs",
                "pub struct Low;\nfn f() -> String { format!(\"{}\", crate::m::high::LIMIT) }\n",
            ),
            (
                "m/high.rs",
                "use super::Low;\npub const LIMIT: usize = 1;\nfn g(_: Low) {}\n",
            ),
        ],
    );
    let circles = check(&dir.join("lib.rs"));
    let _ = std::fs::remove_dir_all(&dir);
    assert!(circles.contains("a circle of 2 files"), "{circles}");
    assert!(circles.contains("m/high.rs -> m/low.rs: Low"), "{circles}");
    assert!(circles.contains("m/low.rs -> m/high.rs: LIMIT"), "{circles}");
    assert!(!circles.contains("mod.rs ->"), "{circles}");
}

#[test]
fn arrows_that_run_one_way_and_a_files_own_tests_module_are_no_circle() {
    let dir = scratch_crate(
        "oneway",
        &[
            ("lib.rs", "pub mod a;\npub mod b;\npub use b::B;\n"),
            (
                "a.rs",
                "pub struct A;\n#[cfg(test)]\nmod tests {\n    use super::*;\n    fn t(_: A) {}\n}\n",
            ),
            ("b.rs", "use crate::a::A;\npub struct B(pub A);\n"),
        ],
    );
    let circles = check(&dir.join("lib.rs"));
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(circles, "");
}
