//! Outputs that never overwrite an input and appear all together or not at all.
//!
//! * [`check_not_input`]: refuses an output that is one of the inputs: the same path, or the
//!   same file reached through a symbolic or hard link (canonical paths and `(device, inode)`
//!   compared).
//! * [`check_output_file`]: before any long work, the folder an output file goes into exists and
//!   is writable (a probe file is created there and removed) and the output is not a folder.
//! * [`Staged`]: one output written under a hidden temporary name in its destination folder
//!   (`.tianyan-PID-N.NAME`, so the final rename stays on one file system and the extension is
//!   kept) and renamed into place by [`Staged::commit`]. Dropped uncommitted, it removes the
//!   temporary.
//! * [`OutputSet`]: several staged outputs committed together, after every one of them has been
//!   written completely; a failure before the commit leaves none of them (and removes the folders
//!   the set created).
//!
//! * [`install_interrupt_cleanup`]: on Ctrl-C (SIGINT), SIGTERM or SIGHUP, every staged
//!   temporary not yet committed is removed, and every folder a set created, before the process
//!   ends as the signal would have ended it. Commits hold the same lock, so a set is either wholly
//!   renamed or wholly removed (SIGKILL cannot be caught: its temporaries stay, hidden).
//!
//! Every error names the user's path, never a temporary one.

use super::IoError;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

static NEXT_TEMP: AtomicU64 = AtomicU64::new(0);

/// What the interrupt cleanup removes: staged temporaries and created folders not yet committed.
struct Live {
    files: BTreeSet<PathBuf>,
    /// Created folders, innermost first within each set (removed in this order).
    dirs: Vec<PathBuf>,
}

static LIVE: Mutex<Live> = Mutex::new(Live { files: BTreeSet::new(), dirs: Vec::new() });

/// The registry, also when a thread panicked while holding it (the data stay consistent: every
/// change is one insert or remove).
fn live() -> MutexGuard<'static, Live> {
    LIVE.lock().unwrap_or_else(|e| e.into_inner())
}

/// Removes every registered temporary and created folder; returns how many files were removed.
fn remove_live(g: &mut Live) -> usize {
    let mut n = 0;
    for f in std::mem::take(&mut g.files) {
        if std::fs::remove_file(&f).is_ok() {
            n += 1;
        }
    }
    for d in std::mem::take(&mut g.dirs) {
        let _ = std::fs::remove_dir(d); // only when empty: a folder never loses a user's file
    }
    n
}

/// Installs the handler that cleans up after Ctrl-C (SIGINT), SIGTERM and SIGHUP: a thread waits
/// for the signal, removes every uncommitted staged temporary and every folder an [`OutputSet`]
/// created, prints one line saying so, and ends the process with the signal's default action (so a
/// shell or a batch system sees "killed by SIGINT", exit status 130 in a shell). The registry lock
/// is held from the cleanup to the end, so no commit can happen after it. Call once, from the
/// command-line front; library users keep their own signal handling.
///
/// # Errors
/// The OS error when the handler cannot be registered.
pub fn install_interrupt_cleanup() -> std::io::Result<()> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP])?;
    std::thread::Builder::new().name("interrupt-cleanup".into()).spawn(move || {
        if let Some(sig) = signals.forever().next() {
            let mut g = live();
            let n = remove_live(&mut g);
            let name = match sig {
                SIGINT => "interrupted (SIGINT)",
                SIGTERM => "terminated (SIGTERM)",
                _ => "hung up (SIGHUP)",
            };
            if n > 0 {
                eprintln!("\n{name}: removed {n} unfinished output file{}", if n == 1 { "" } else { "s" });
            } else {
                eprintln!("\n{name}");
            }
            let _ = signal_hook::low_level::emulate_default_handler(sig);
            std::process::exit(128 + sig);
        }
    })?;
    Ok(())
}

/// A hidden temporary path beside `path`: `.tianyan-PID-N.NAME`, unique per process and call.
/// The name ends with `path`'s own name, so its extension is kept (image writers choose the
/// format from it).
pub fn temp_path(path: &Path) -> PathBuf {
    let name = path.file_name().map(|s| s.to_string_lossy().to_string()).unwrap_or_else(|| "output".into());
    let n = NEXT_TEMP.fetch_add(1, Ordering::Relaxed);
    path.with_file_name(format!(".tianyan-{}-{n}.{name}", std::process::id()))
}

/// The folder `path` is written into (`.` for a bare file name).
fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// True when `a` and `b` name the same existing file: equal canonical paths, or equal
/// `(device, inode)` (a hard link).
pub fn same_file(a: &Path, b: &Path) -> bool {
    if let (Ok(ca), Ok(cb)) = (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        if ca == cb {
            return true;
        }
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if let (Ok(ma), Ok(mb)) = (std::fs::metadata(a), std::fs::metadata(b)) {
            return ma.dev() == mb.dev() && ma.ino() == mb.ino();
        }
    }
    false
}

/// Refuses `output` when it is one of `inputs` (same path, or the same file through a link).
///
/// # Errors
/// [`IoError::Format`] naming `output` and the input it would overwrite.
pub fn check_not_input(inputs: &[PathBuf], output: &Path) -> Result<(), IoError> {
    for input in inputs {
        if input == output || same_file(input, output) {
            let how =
                if input == output { String::new() } else { format!(" (the same file as input {})", input.display()) };
            return Err(IoError::format(
                output,
                format!(
                    "the output is an input of this command{how}; refusing to write over it: choose another output"
                ),
            ));
        }
    }
    Ok(())
}

/// The kinds of HDF5 file tianyan writes, for [`check_replaceable_hdf5`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hdf5Output {
    /// A candidate file (`search -o`; has `/candidates`).
    Candidates,
    /// An RFI mask file (`rfi -o`; root attribute `kind = "tianyan rfi mask"`).
    Mask,
}

/// Checks that an existing `output` that an HDF5 writer would replace is an HDF5 file (its first
/// 8 bytes are the HDF5 signature `\x89HDF\r\n\x1a\n`) and not a tianyan file of the other kind:
/// a search or mask output must never replace an observation, a truth file, a mask (for a
/// candidate file) or a candidate file (for a mask). A missing `output` passes.
///
/// # Errors
/// [`IoError`] naming `output` when it exists and is not an HDF5 file, or is the other kind.
pub fn check_replaceable_hdf5(output: &Path, kind: Hdf5Output) -> Result<(), IoError> {
    let meta = match std::fs::metadata(output) {
        Err(_) => return Ok(()),
        Ok(m) => m,
    };
    if !meta.is_file() {
        return Ok(()); // folders and the like are refused by check_output_file with their own message
    }
    let mut head = [0u8; 8];
    let is_hdf5 = std::fs::File::open(output)
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut head))
        .map(|_| head == *b"\x89HDF\r\n\x1a\n")
        .unwrap_or(false);
    if is_hdf5 {
        let other = match crate::io::h5file::open(output) {
            Ok(f) => {
                let is_mask = f
                    .attr("kind")
                    .and_then(|a| a.read_scalar::<hdf5::types::VarLenUnicode>())
                    .map(|k| k.as_str().contains("rfi mask"))
                    .unwrap_or(false);
                let is_cands = f.link_exists("candidates");
                match kind {
                    Hdf5Output::Candidates if is_mask => Some("an RFI mask file"),
                    Hdf5Output::Mask if is_cands => Some("a candidate file"),
                    // Any other HDF5 file (a FETCH cutout, another tool's file) is kept.
                    Hdf5Output::Candidates if !is_cands => Some("an HDF5 file that is not a tianyan candidate file"),
                    Hdf5Output::Mask if !is_mask => Some("an HDF5 file that is not a tianyan RFI mask"),
                    _ => None,
                }
            }
            Err(_) => Some("an HDF5 file tianyan cannot open"),
        };
        match other {
            Some(what) => Err(IoError::format(
                output,
                format!("exists and is {what}; refusing to replace it: remove it or choose another output"),
            )),
            None => Ok(()),
        }
    } else {
        Err(IoError::format(
            output,
            "exists and is not an HDF5 file; refusing to replace it: remove it or choose another output".to_string(),
        ))
    }
}

/// What an existing file is, judged by its first bytes (and, for HDF5 and JSON, by what tianyan
/// records in it), for the messages and checks of [`check_replaceable`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExistingKind {
    /// A PNG image (signature `\x89PNG\r\n\x1a\n`).
    Png,
    /// A SIGPROC file (`HEADER_START` after a 4-byte length 12, either byte order).
    Sigproc,
    /// A FITS file (first card `SIMPLE  =`); PSRFITS or other.
    Fits,
    /// A tianyan candidate file (HDF5 with `/candidates`).
    Candidates,
    /// A tianyan RFI mask file (HDF5, root attribute `kind` containing "rfi mask").
    Mask,
    /// Another HDF5 file.
    Hdf5,
    /// A tianyan truth file (JSON with `"software": "tianyan"` and `"output_file"`).
    Truth,
    /// Anything else (text, another JSON file, a list of DMs, ...).
    Other,
}

impl ExistingKind {
    /// The kind in words, with its article ("a PNG image").
    pub fn describe(&self) -> &'static str {
        match self {
            ExistingKind::Png => "a PNG image",
            ExistingKind::Sigproc => "a SIGPROC file (an observation or time series)",
            ExistingKind::Fits => "a FITS file (an observation)",
            ExistingKind::Candidates => "a tianyan candidate file",
            ExistingKind::Mask => "a tianyan RFI mask file",
            ExistingKind::Hdf5 => "an HDF5 file",
            ExistingKind::Truth => "a tianyan truth file",
            ExistingKind::Other => "not a file tianyan writes",
        }
    }
}

/// The kind of the existing regular file `path`; `None` when it does not exist or is not a
/// regular file (folders are refused by [`check_output_file`] with their own message).
pub fn existing_kind(path: &Path) -> Option<ExistingKind> {
    let meta = std::fs::metadata(path).ok()?;
    if !meta.is_file() {
        return None;
    }
    let mut head = Vec::with_capacity(16);
    if let Ok(f) = std::fs::File::open(path) {
        let _ = std::io::Read::read_to_end(&mut std::io::Read::take(f, 16), &mut head);
    }
    let starts = |sig: &[u8]| head.len() >= sig.len() && &head[..sig.len()] == sig;
    let kind = if starts(b"\x89PNG\r\n\x1a\n") {
        ExistingKind::Png
    } else if starts(b"\x0c\x00\x00\x00HEADER_START") || starts(b"\x00\x00\x00\x0cHEADER_START") {
        ExistingKind::Sigproc
    } else if starts(b"SIMPLE  =") {
        ExistingKind::Fits
    } else if starts(b"\x89HDF\r\n\x1a\n") {
        match crate::io::h5file::open(path) {
            Ok(f) => {
                let is_mask = f
                    .attr("kind")
                    .and_then(|a| a.read_scalar::<hdf5::types::VarLenUnicode>())
                    .map(|k| k.as_str().contains("rfi mask"))
                    .unwrap_or(false);
                if is_mask {
                    ExistingKind::Mask
                } else if f.link_exists("candidates") {
                    ExistingKind::Candidates
                } else {
                    ExistingKind::Hdf5
                }
            }
            Err(_) => ExistingKind::Hdf5,
        }
    } else if meta.len() < (64 << 20) && head.first().is_some_and(|b| b.is_ascii_whitespace() || *b == b'{') {
        let is_truth =
            std::fs::read(path).ok().and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok()).is_some_and(
                |v| v.get("software").and_then(|s| s.as_str()) == Some("tianyan") && v.get("output_file").is_some(),
            );
        if is_truth {
            ExistingKind::Truth
        } else {
            ExistingKind::Other
        }
    } else {
        ExistingKind::Other
    };
    Some(kind)
}

/// Checks that an existing `output` may be replaced by a file of one of the kinds `allowed`
/// (`what` names the output in the message, e.g. "a fold page"): a command replaces only a file
/// of the kind it writes, never an observation, a truth file, a mask, a candidate file or a page
/// of another kind. A missing `output` (or a folder, refused elsewhere) passes.
///
/// # Errors
/// [`IoError::Format`] naming `output` and what it is.
pub fn check_replaceable(output: &Path, allowed: &[ExistingKind], what: &str) -> Result<(), IoError> {
    match existing_kind(output) {
        Some(k) if !allowed.contains(&k) => Err(IoError::format(
            output,
            format!(
                "exists and is {}, but this output is {what}; refusing to replace it: remove it or choose another output",
                k.describe()
            ),
        )),
        _ => Ok(()),
    }
}

/// Checks that `page` may be replaced by a page drawn from `source` (a candidate or mask file):
/// an existing page must be a PNG image recording the same source (the `tianyan source` text
/// chunk written by [`tag_png`]); a page of another file, or an untagged one, is refused unless
/// `overwrite`. A page of another file is what another file's `/folds` `png_path` points to.
///
/// # Errors
/// [`IoError::Format`] naming `page` and the file it was drawn from.
pub fn check_replaceable_page(page: &Path, source: &Path, overwrite: bool) -> Result<(), IoError> {
    check_replaceable(page, &[ExistingKind::Png], "a PNG page")?;
    if overwrite || !page.is_file() {
        return Ok(());
    }
    let want = source_tag(source);
    match read_png_text(page, PNG_SOURCE_KEY) {
        Some(s) if s == want => Ok(()),
        Some(s) => Err(IoError::format(
            page,
            format!(
                "exists and is a page drawn from {s}, not from {want}; refusing to replace it (that file's \
                 /folds may point to it): choose another folder, or pass --overwrite"
            ),
        )),
        None => Err(IoError::format(
            page,
            "exists and is a PNG image that records no source file; refusing to replace it: choose another folder, \
             or pass --overwrite"
                .to_string(),
        )),
    }
}

/// The PNG text keyword under which [`tag_png`] records the file a page was drawn from.
pub const PNG_SOURCE_KEY: &str = "tianyan source";

/// How a source file is recorded in a page: its canonical path when it exists, else as given.
/// A file not written yet (a staged candidate file) is recorded by its canonical folder and name.
pub fn source_tag(source: &Path) -> String {
    if let Ok(c) = std::fs::canonicalize(source) {
        return c.display().to_string();
    }
    match (std::fs::canonicalize(parent_dir(source)), source.file_name()) {
        (Ok(d), Some(n)) => d.join(n).display().to_string(),
        _ => source.display().to_string(),
    }
}

/// CRC-32 (IEEE 802.3, reflected, polynomial 0xEDB88320) of `bytes`, as the PNG chunk CRC
/// (PNG specification §5.5).
fn crc32(bytes: &[&[u8]]) -> u32 {
    let mut c = 0xFFFF_FFFFu32;
    for b in bytes.iter().flat_map(|s| s.iter()) {
        c ^= *b as u32;
        for _ in 0..8 {
            c = if c & 1 != 0 { 0xEDB8_8320 ^ (c >> 1) } else { c >> 1 };
        }
    }
    !c
}

/// Adds a `tEXt` chunk `key`: `value` right after the IHDR chunk of the PNG file `png` (PNG
/// specification §11.3.4.3; the image is unchanged). Non-Latin-1 characters of `value` are
/// written as `?`.
///
/// # Errors
/// [`IoError`] naming `png` when it cannot be read or written, or is not a PNG file.
pub fn tag_png(png: &Path, key: &str, value: &str) -> Result<(), IoError> {
    let bytes = std::fs::read(png).map_err(|e| IoError::os(png, e))?;
    // Signature (8) + IHDR chunk (4 length + 4 type + 13 data + 4 CRC).
    if bytes.len() < 33 || &bytes[..8] != b"\x89PNG\r\n\x1a\n" || &bytes[12..16] != b"IHDR" {
        return Err(IoError::format(png, "not a PNG file"));
    }
    let mut data: Vec<u8> = key.bytes().collect();
    data.push(0);
    data.extend(value.chars().map(|c| if (c as u32) < 256 { c as u32 as u8 } else { b'?' }));
    let mut chunk = Vec::with_capacity(data.len() + 12);
    chunk.extend_from_slice(&(data.len() as u32).to_be_bytes());
    chunk.extend_from_slice(b"tEXt");
    chunk.extend_from_slice(&data);
    chunk.extend_from_slice(&crc32(&[b"tEXt", &data]).to_be_bytes());
    let mut out = Vec::with_capacity(bytes.len() + chunk.len());
    out.extend_from_slice(&bytes[..33]);
    out.extend_from_slice(&chunk);
    out.extend_from_slice(&bytes[33..]);
    std::fs::write(png, out).map_err(|e| IoError::os(png, e))
}

/// The text of the first `tEXt` chunk `key` of the PNG file `png`, if any.
pub fn read_png_text(png: &Path, key: &str) -> Option<String> {
    let bytes = std::fs::read(png).ok()?;
    if bytes.len() < 8 || &bytes[..8] != b"\x89PNG\r\n\x1a\n" {
        return None;
    }
    let mut i = 8;
    while i + 12 <= bytes.len() {
        let len = u32::from_be_bytes(bytes[i..i + 4].try_into().ok()?) as usize;
        let ty = &bytes[i + 4..i + 8];
        let end = i.checked_add(12)?.checked_add(len)?;
        if end > bytes.len() || ty == b"IDAT" || ty == b"IEND" {
            return None;
        }
        if ty == b"tEXt" {
            let d = &bytes[i + 8..i + 8 + len];
            if let Some(z) = d.iter().position(|b| *b == 0) {
                if &d[..z] == key.as_bytes() {
                    return Some(d[z + 1..].iter().map(|b| *b as char).collect());
                }
            }
        }
        i = end;
    }
    None
}

/// Checks that the folder `dir` exists and that a file can be created in it, by creating and
/// removing a hidden probe file. `what` names the output the check is for.
fn check_writable_dir(dir: &Path, what: &Path) -> Result<(), IoError> {
    match std::fs::metadata(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(IoError::format(what, format!("the output folder {} does not exist", dir.display())))
        }
        Err(e) => return Err(IoError::format(what, format!("cannot use the output folder {}: {e}", dir.display()))),
        Ok(m) if !m.is_dir() => {
            // The error names `what` first: say the folder only when it is another path.
            let msg = if dir == what {
                "is a file, but this output is a folder: give a folder name".to_string()
            } else {
                format!("the output folder {} is a file, not a folder", dir.display())
            };
            return Err(IoError::format(what, msg));
        }
        Ok(_) => {}
    }
    let probe = temp_path(&dir.join("probe"));
    match std::fs::OpenOptions::new().write(true).create_new(true).open(&probe) {
        Ok(f) => {
            drop(f);
            let _ = std::fs::remove_file(&probe);
            Ok(())
        }
        Err(e) => Err(IoError::format(what, format!("cannot write in the output folder {}: {e}", dir.display()))),
    }
}

/// Checks, before any work, that the output file `path` can be written: its folder exists and is
/// writable, and `path` is not itself a folder.
///
/// # Errors
/// [`IoError::Format`] naming `path` and what is wrong.
pub fn check_output_file(path: &Path) -> Result<(), IoError> {
    if path.as_os_str().is_empty() {
        return Err(IoError::format("<output>", "empty output path"));
    }
    if path.is_dir() {
        return Err(IoError::format(path, "the output is a folder; give a file name"));
    }
    check_writable_dir(&parent_dir(path), path)
}

/// One output file written under a temporary name beside its destination.
///
/// Write to [`Staged::tmp`]; [`Staged::commit`] renames it to [`Staged::path`]. Dropping an
/// uncommitted `Staged` removes the temporary file.
#[derive(Debug)]
pub struct Staged {
    path: PathBuf,
    tmp: PathBuf,
    armed: bool,
}

impl Staged {
    /// Reserves a temporary name for the output `path` (nothing is created yet).
    pub fn new(path: &Path) -> Staged {
        let tmp = temp_path(path);
        live().files.insert(tmp.clone());
        Staged { path: path.to_path_buf(), tmp, armed: true }
    }

    /// The destination path (the one to name in messages).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The temporary path to write to.
    pub fn tmp(&self) -> &Path {
        &self.tmp
    }

    /// Replaces every mention of the temporary path in `msg` by the destination path, so a
    /// message from a lower layer names the user's file.
    pub fn relabel(&self, msg: &str) -> String {
        msg.replace(&self.tmp.display().to_string(), &self.path.display().to_string())
    }

    /// Renames the temporary file to the destination.
    ///
    /// # Errors
    /// [`IoError::Os`] naming the destination when the rename fails (the temporary is removed).
    pub fn commit(mut self) -> Result<(), IoError> {
        let mut g = live();
        self.commit_locked(&mut g)
    }

    /// [`Staged::commit`] with the registry already locked (an [`OutputSet`] commits all its
    /// files under one lock, so an interrupt sees all of them renamed or none).
    fn commit_locked(&mut self, g: &mut Live) -> Result<(), IoError> {
        let r = std::fs::rename(&self.tmp, &self.path).map_err(|e| IoError::os(&self.path, e));
        if r.is_ok() {
            self.armed = false;
            g.files.remove(&self.tmp);
        }
        r
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if self.armed {
            let mut g = live();
            let _ = std::fs::remove_file(&self.tmp);
            g.files.remove(&self.tmp);
        }
    }
}

/// Output files that appear together or not at all.
///
/// Add each complete [`Staged`] file; [`OutputSet::commit`] renames them all. Dropped without a
/// commit (an error on the way), it removes every temporary and the folders it created.
#[derive(Debug, Default)]
pub struct OutputSet {
    files: Vec<Staged>,
    created_dirs: Vec<PathBuf>,
    committed: bool,
}

impl OutputSet {
    /// An empty set.
    pub fn new() -> OutputSet {
        OutputSet::default()
    }

    /// Makes sure the output folder `dir` exists (creating it and its missing parents, which are
    /// removed again if the set is not committed) and is writable.
    ///
    /// # Errors
    /// [`IoError::Format`] naming `dir` when it is a file, cannot be created or is not writable.
    pub fn ensure_dir(&mut self, dir: &Path) -> Result<(), IoError> {
        if !dir.exists() {
            let mut missing = Vec::new();
            let mut d = Some(dir);
            while let Some(p) = d {
                if p.as_os_str().is_empty() || p.exists() {
                    break;
                }
                missing.push(p.to_path_buf());
                d = p.parent();
            }
            let mut g = live();
            std::fs::create_dir_all(dir)
                .map_err(|e| IoError::format(dir, format!("cannot create the output folder: {e}")))?;
            // Innermost first, so removal on failure empties from the bottom up.
            g.dirs.extend(missing.iter().cloned());
            self.created_dirs.extend(missing);
        }
        check_writable_dir(dir, dir)
    }

    /// Adds a completely written file to the set.
    pub fn add(&mut self, file: Staged) {
        self.files.push(file);
    }

    /// Number of files in the set.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    /// True when the set holds no file.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// Renames every file into place. If a rename fails, the files already renamed are removed
    /// again and the rest are discarded, so no partial set is left.
    ///
    /// # Errors
    /// [`IoError::Os`] naming the file whose rename failed.
    pub fn commit(mut self) -> Result<(), IoError> {
        let files = std::mem::take(&mut self.files);
        let mut done: Vec<PathBuf> = Vec::with_capacity(files.len());
        let mut g = live();
        let mut rest = files.into_iter();
        for mut f in rest.by_ref() {
            let path = f.path().to_path_buf();
            if let Err(e) = f.commit_locked(&mut g) {
                for p in &done {
                    let _ = std::fs::remove_file(p);
                }
                drop(g); // the remaining temporaries lock the registry as they are dropped
                drop(f);
                drop(rest);
                return Err(e);
            }
            done.push(path);
        }
        self.committed = true;
        g.dirs.retain(|d| !self.created_dirs.contains(d));
        Ok(())
    }
}

impl Drop for OutputSet {
    fn drop(&mut self) {
        // Dropping the staged files removes their temporaries.
        self.files.clear();
        if !self.committed {
            let mut g = live();
            for d in &self.created_dirs {
                let _ = std::fs::remove_dir(d);
            }
            g.dirs.retain(|d| !self.created_dirs.contains(d));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_commits_all_or_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.txt"), dir.path().join("b.txt"));
        {
            let mut set = OutputSet::new();
            let sa = Staged::new(&a);
            std::fs::write(sa.tmp(), b"a").unwrap();
            set.add(sa);
            // b fails before it is complete: the set is dropped uncommitted.
        }
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "no file and no temporary left");
        let mut set = OutputSet::new();
        for (p, v) in [(&a, "a"), (&b, "b")] {
            let s = Staged::new(p);
            std::fs::write(s.tmp(), v).unwrap();
            set.add(s);
        }
        set.commit().unwrap();
        assert_eq!(std::fs::read_to_string(&a).unwrap(), "a");
        assert_eq!(std::fs::read_to_string(&b).unwrap(), "b");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
    }

    #[test]
    fn created_folders_are_removed_on_failure() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("x/y");
        {
            let mut set = OutputSet::new();
            set.ensure_dir(&out).unwrap();
            assert!(out.is_dir());
        }
        assert!(!dir.path().join("x").exists());
    }
}
