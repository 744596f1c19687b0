//! Output files: checked before anything is computed, written atomically, never left half-written.
//!
//! What an output path may be (`--output`, `--slope-grad`, `bench --json/--plot`):
//!
//! - a regular file, existing or not, in an existing directory. An existing one is replaced
//!   atomically: the data goes to a temporary file in the same directory, is flushed to disk and
//!   renamed over it, so readers see the old file or the whole new one. The new file keeps the old
//!   one's permission bits (and, where the system allows it, as for root, its owner and group). A
//!   new file gets `0666` minus the umask. A file that is not writable (by `access(2)`, or with no
//!   write bit at all, which root would otherwise ignore) is refused.
//! - a symbolic link: written through to its target (the link stays a link, the file it points to
//!   is replaced as above); a dangling link creates its target.
//! - `-` (where the command allows it): the data goes to standard output, not atomically
//!   (refused when standard output is a terminal).
//!
//! A directory, a device, a FIFO or a socket is refused (exit code 2) before any input is read;
//! so is a path whose directory does not exist, a name too long for the file system, or an
//! unwritable directory (the temporary file is created before computing).
//!
//! The temporary file: on Linux an unnamed `O_TMPFILE` in the target's directory, which no signal,
//! crash or power loss can leave behind; it gets a name (`.wgpu-activations.PID.N.tmp`) only for
//! the instant between `linkat` and the `rename` over the target. Elsewhere, or where the file
//! system lacks `O_TMPFILE`, it is created under that name from the start. Either way, while it
//! has a name a handler for SIGINT, SIGTERM, SIGHUP and SIGQUIT removes it before the signal takes
//! its default course (the process then dies of that signal, as without the handler); an error
//! removes it too. Only SIGKILL (or a crash) during that window can leave a named temporary.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::{runtime, usage, Failure};

/// The folder holding `path` (`.` for a bare file name).
pub(crate) fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// A checked output path: standard output, or the regular file (after symbolic links) to replace
/// or create.
#[derive(Debug)]
pub(crate) struct Output {
    /// The option that named it (`--output`), for messages.
    flag: &'static str,
    /// The path as given, for messages.
    shown: PathBuf,
    target: Target,
}

#[derive(Debug)]
enum Target {
    Stdout,
    File {
        /// The path after symbolic links: what the rename replaces.
        path: PathBuf,
        /// The file there now, if any.
        existing: Option<std::fs::Metadata>,
    },
}

/// How many symbolic links a path may go through (Linux's limit).
const MAX_LINKS: usize = 40;

/// Follow `path` through symbolic links (dangling ones included) to the path that is not one:
/// the path and its metadata, `None` when nothing is there.
fn resolve(path: &Path) -> std::io::Result<(PathBuf, Option<std::fs::Metadata>)> {
    let mut p = path.to_path_buf();
    for _ in 0..=MAX_LINKS {
        match std::fs::symlink_metadata(&p) {
            Ok(m) if m.file_type().is_symlink() => {
                let to = std::fs::read_link(&p)?;
                p = if to.is_absolute() {
                    to
                } else {
                    parent_dir(&p).join(to)
                };
            }
            Ok(m) => return Ok((p, Some(m))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((p, None)),
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::other("too many levels of symbolic links"))
}

impl Output {
    /// Check `path` as the output named by `flag`, before anything is read or computed. `stdout`:
    /// whether `-` means standard output here.
    pub(crate) fn check(path: &Path, flag: &'static str, stdout: bool) -> Result<Output, Failure> {
        let shown = path.to_path_buf();
        let refuse = |why: String| usage(format!("{flag} {}: {why}", path.display()));
        if path.as_os_str() == "-" && stdout {
            if std::io::IsTerminal::is_terminal(&std::io::stdout()) {
                return Err(refuse(
                    "standard output is a terminal; redirect it to a file or a pipe".into(),
                ));
            }
            return Ok(Output {
                flag,
                shown,
                target: Target::Stdout,
            });
        }
        if path.as_os_str().is_empty() {
            return Err(usage(format!("{flag}: the path is empty")));
        }
        let hint = if stdout {
            " (use `-` for standard output)"
        } else {
            ""
        };
        // What the path leads to, as the system follows it (`/dev/stdout` included).
        if let Ok(m) = std::fs::metadata(path) {
            if let Some(kind) = sys::kind_of(&m) {
                return Err(refuse(format!(
                    "is {kind}; only a regular file can be written{hint}"
                )));
            }
        }
        let (resolved, existing) = resolve(path).map_err(|e| refuse(e.to_string()))?;
        let through = if resolved != path {
            format!(" (the symbolic link's target {})", resolved.display())
        } else {
            String::new()
        };
        match &existing {
            Some(m) => {
                if let Some(kind) = sys::kind_of(m) {
                    return Err(refuse(format!(
                        "is {kind}{through}; only a regular file can be written{hint}"
                    )));
                }
                if !sys::writable(&resolved, m) {
                    return Err(refuse(format!(
                        "the file{through} is read-only; it is not replaced"
                    )));
                }
            }
            None => {
                let dir = parent_dir(&resolved);
                match std::fs::metadata(&dir) {
                    Ok(m) if m.is_dir() => {}
                    Ok(_) => {
                        return Err(refuse(format!("{} is not a directory", dir.display())));
                    }
                    Err(_) => {
                        return Err(refuse(format!(
                            "the directory {} does not exist",
                            dir.display()
                        )));
                    }
                }
                if resolved.file_name().is_none() {
                    return Err(refuse("names no file".into()));
                }
            }
        }
        Ok(Output {
            flag,
            shown,
            target: Target::File {
                path: resolved,
                existing,
            },
        })
    }

    /// Whether two outputs would write the same file (or both standard output).
    pub(crate) fn same_as(&self, other: &Output) -> bool {
        match (&self.target, &other.target) {
            (Target::Stdout, Target::Stdout) => true,
            (
                Target::File {
                    path: a,
                    existing: ea,
                },
                Target::File {
                    path: b,
                    existing: eb,
                },
            ) => match (ea, eb) {
                (Some(x), Some(y)) if sys::same_file(x, y).is_some() => {
                    sys::same_file(x, y) == Some(true)
                }
                _ => {
                    let canon = |p: &Path| {
                        std::fs::canonicalize(parent_dir(p))
                            .ok()
                            .map(|d| d.join(p.file_name().unwrap_or_default()))
                    };
                    a == b || (canon(a).is_some() && canon(a) == canon(b))
                }
            },
            _ => false,
        }
    }

    /// The option and path, for messages (`--output y.npy`).
    pub(crate) fn describe(&self) -> String {
        format!("{} {}", self.flag, self.shown.display())
    }

    /// Create the temporary file (or take standard output) now, before computing: a directory
    /// that cannot take a new file fails here.
    pub(crate) fn open(self) -> Result<Pending, Failure> {
        let (path, existing) = match self.target {
            Target::Stdout => {
                return Ok(Pending {
                    shown: self.shown,
                    sink: Sink::Stdout,
                })
            }
            Target::File { path, existing } => (path, existing),
        };
        let dir = parent_dir(&path);
        let cannot = |e: std::io::Error| {
            usage(format!(
                "{} {}: cannot create a file in {}: {e}",
                self.flag,
                self.shown.display(),
                dir.display()
            ))
        };
        let temp = Temp::create(&dir).map_err(cannot)?;
        if let Some(m) = &existing {
            sys::keep_mode(temp.file(), m);
        }
        Ok(Pending {
            shown: self.shown,
            sink: Sink::File { temp, path },
        })
    }
}

/// An output ready to take its data: the temporary file, or standard output.
pub(crate) struct Pending {
    shown: PathBuf,
    sink: Sink,
}

enum Sink {
    Stdout,
    File { temp: Temp, path: PathBuf },
}

impl Pending {
    /// Write the data with `write` and put it in place: flushed, synced and renamed over the
    /// target (or flushed to standard output).
    pub(crate) fn commit(
        self,
        write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
    ) -> Result<(), Failure> {
        let shown = self.shown.display().to_string();
        let fail =
            |what: &str, e: std::io::Error| runtime(format!("cannot write {shown}: {what}: {e}"));
        match self.sink {
            Sink::Stdout => {
                let stdout = std::io::stdout();
                let mut out = std::io::BufWriter::new(stdout.lock());
                write(&mut out).map_err(|e| fail("standard output", e))?;
                out.flush().map_err(|e| fail("standard output", e))
            }
            Sink::File { temp, path } => {
                {
                    let mut out = std::io::BufWriter::new(temp.file());
                    write(&mut out).map_err(|e| fail("data", e))?;
                    out.flush().map_err(|e| fail("data", e))?;
                }
                temp.file().sync_all().map_err(|e| fail("sync", e))?;
                // The target may have changed since it was checked: never rename over anything
                // but a regular file.
                if let Ok((_, Some(m))) = resolve(&path) {
                    if let Some(kind) = sys::kind_of(&m) {
                        return Err(runtime(format!(
                            "cannot write {shown}: it has become {kind}"
                        )));
                    }
                }
                temp.persist(&path)
                    .map_err(|e| fail("rename into place", e))?;
                // The rename itself on disk (best effort: not every file system syncs folders).
                if let Ok(d) = File::open(parent_dir(&path)) {
                    let _ = d.sync_all();
                }
                Ok(())
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The temporary file
// ---------------------------------------------------------------------------------------------

/// A temporary file in the target's directory: unnamed (`O_TMPFILE`) where possible, else named
/// and registered for removal on a signal. Dropped without [`Temp::persist`], it disappears.
struct Temp {
    file: File,
    dir: PathBuf,
    /// The name it has (named temporaries), registered with the signal cleanup.
    named: Option<(PathBuf, usize)>,
}

/// A fresh temporary name in `dir`: short, whatever the target's name, so that it fits wherever
/// the target's name does.
fn temp_name(dir: &Path) -> PathBuf {
    use std::sync::atomic::{AtomicU32, Ordering};
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    dir.join(format!(".wgpu-activations.{}.{n}.tmp", std::process::id()))
}

impl Temp {
    fn create(dir: &Path) -> std::io::Result<Temp> {
        if std::env::var_os("WGPU_ACTIVATIONS_NAMED_TEMP").is_none() {
            if let Some(file) = sys::create_unnamed(dir)? {
                return Ok(Temp {
                    file,
                    dir: dir.to_path_buf(),
                    named: None,
                });
            }
        }
        for _ in 0..100 {
            let name = temp_name(dir);
            // Registered before it exists, so that no instant leaves it unregistered.
            let slot = cleanup::register(&name);
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&name)
            {
                Ok(file) => {
                    return Ok(Temp {
                        file,
                        dir: dir.to_path_buf(),
                        named: Some((name, slot)),
                    })
                }
                Err(e) => {
                    cleanup::unregister(slot);
                    if e.kind() != std::io::ErrorKind::AlreadyExists {
                        return Err(e);
                    }
                }
            }
        }
        Err(std::io::Error::other("no free temporary name"))
    }

    fn file(&self) -> &File {
        &self.file
    }

    /// Give the data its final name: `rename` over `path` (an unnamed temporary is first linked
    /// under a temporary name, since `linkat` cannot replace a file).
    fn persist(mut self, path: &Path) -> std::io::Result<()> {
        let (name, slot) = match self.named.take() {
            Some(n) => n,
            None => {
                let mut linked = None;
                for _ in 0..100 {
                    let name = temp_name(&self.dir);
                    let slot = cleanup::register(&name);
                    match sys::link_unnamed(&self.file, &name) {
                        Ok(()) => {
                            linked = Some((name, slot));
                            break;
                        }
                        Err(e) => {
                            cleanup::unregister(slot);
                            if e.kind() != std::io::ErrorKind::AlreadyExists {
                                return Err(e);
                            }
                        }
                    }
                }
                linked.ok_or_else(|| std::io::Error::other("no free temporary name"))?
            }
        };
        let r = std::fs::rename(&name, path);
        if r.is_err() {
            let _ = std::fs::remove_file(&name);
        }
        cleanup::unregister(slot);
        r
    }
}

impl Drop for Temp {
    fn drop(&mut self) {
        if let Some((name, slot)) = self.named.take() {
            let _ = std::fs::remove_file(&name);
            cleanup::unregister(slot);
        }
    }
}

use sys::cleanup;

/// What differs between Unix and the rest: file kinds, permissions, unnamed temporaries and the
/// signal cleanup.
#[cfg(unix)]
mod sys {
    use std::ffi::CString;
    use std::fs::File;
    use std::os::unix::ffi::OsStrExt as _;
    use std::os::unix::fs::{FileTypeExt as _, MetadataExt as _, PermissionsExt as _};
    use std::path::Path;

    pub(super) fn c_path(path: &Path) -> std::io::Result<CString> {
        CString::new(path.as_os_str().as_bytes())
            .map_err(|_| std::io::Error::other("the path contains a NUL byte"))
    }

    /// What a file that is not a regular one is, in words.
    pub(super) fn kind_of(m: &std::fs::Metadata) -> Option<&'static str> {
        let ft = m.file_type();
        if ft.is_file() {
            None
        } else if ft.is_dir() {
            Some("a directory")
        } else if ft.is_char_device() {
            Some("a character device")
        } else if ft.is_block_device() {
            Some("a block device")
        } else if ft.is_fifo() {
            Some("a FIFO")
        } else if ft.is_socket() {
            Some("a socket")
        } else {
            Some("not a regular file")
        }
    }

    /// Whether this process may write the existing file: `access(W_OK)`, and at least one write
    /// bit (root passes `access` for any file; a file nobody may write is left alone even then).
    pub(super) fn writable(path: &Path, meta: &std::fs::Metadata) -> bool {
        let Ok(c) = c_path(path) else { return false };
        // SAFETY: `c` is a valid NUL-terminated string for the duration of the call.
        let ok = unsafe { libc::access(c.as_ptr(), libc::W_OK) } == 0;
        ok && meta.mode() & 0o222 != 0
    }

    /// Whether two existing files are one (same device and inode).
    pub(super) fn same_file(a: &std::fs::Metadata, b: &std::fs::Metadata) -> Option<bool> {
        Some(a.dev() == b.dev() && a.ino() == b.ino())
    }

    /// Give the new file the replaced one's permission bits, and its owner and group where the
    /// system allows it (root; for anyone else `fchown` to another owner fails, harmlessly).
    pub(super) fn keep_mode(file: &File, m: &std::fs::Metadata) {
        // SAFETY: geteuid and getegid have no preconditions.
        let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
        if m.uid() != uid || m.gid() != gid {
            let _ = std::os::unix::fs::fchown(file, Some(m.uid()), Some(m.gid()));
        }
        // After fchown, which may clear set-id bits (not kept anyway).
        let _ = file.set_permissions(std::fs::Permissions::from_mode(m.mode() & 0o777));
    }

    /// An unnamed temporary file in `dir` (Linux's `O_TMPFILE`, mode 0666 minus the umask), or
    /// `None` where the system or the file system has none.
    pub(super) fn create_unnamed(dir: &Path) -> std::io::Result<Option<File>> {
        #[cfg(target_os = "linux")]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            // `linkat` names the file through /proc.
            if !Path::new("/proc/self/fd").is_dir() {
                return Ok(None);
            }
            match std::fs::OpenOptions::new()
                .write(true)
                .mode(0o666)
                .custom_flags(libc::O_TMPFILE)
                .open(dir)
            {
                Ok(file) => Ok(Some(file)),
                // The file system (or an old kernel) has no O_TMPFILE: a named file instead.
                Err(e)
                    if matches!(
                        e.raw_os_error(),
                        Some(libc::EOPNOTSUPP | libc::EISDIR | libc::EINVAL | libc::ENOENT)
                    ) =>
                {
                    Ok(None)
                }
                Err(e) => Err(e),
            }
        }
        #[cfg(not(target_os = "linux"))]
        {
            let _ = dir;
            Ok(None)
        }
    }

    /// Give an unnamed temporary file the name `name` (`linkat` through `/proc/self/fd`).
    pub(super) fn link_unnamed(file: &File, name: &Path) -> std::io::Result<()> {
        use std::os::fd::AsRawFd as _;
        let from = c_path(Path::new(&format!("/proc/self/fd/{}", file.as_raw_fd())))?;
        let to = c_path(name)?;
        // SAFETY: both are valid NUL-terminated paths for the duration of the call.
        let r = unsafe {
            libc::linkat(
                libc::AT_FDCWD,
                from.as_ptr(),
                libc::AT_FDCWD,
                to.as_ptr(),
                libc::AT_SYMLINK_FOLLOW,
            )
        };
        if r == 0 {
            Ok(())
        } else {
            Err(std::io::Error::last_os_error())
        }
    }

    /// Removal of named temporary files on SIGINT, SIGTERM, SIGHUP and SIGQUIT.
    ///
    /// The names live in a fixed table of pointers to leaked C strings (a handful per run), which
    /// the handler reads with atomic loads and passes to `unlink(2)`, both async-signal-safe; it then
    /// restores the default action and re-raises the signal, so the process ends as it would have.
    pub(super) mod cleanup {
        use std::ffi::CString;
        use std::path::Path;
        use std::sync::atomic::{AtomicPtr, Ordering};
        use std::sync::Once;

        const SLOTS: usize = 16;
        static NAMES: [AtomicPtr<libc::c_char>; SLOTS] =
            [const { AtomicPtr::new(std::ptr::null_mut()) }; SLOTS];
        static INSTALL: Once = Once::new();
        const SIGNALS: [libc::c_int; 4] =
            [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT];

        extern "C" fn on_signal(sig: libc::c_int) {
            for slot in &NAMES {
                let p = slot.swap(std::ptr::null_mut(), Ordering::SeqCst);
                if !p.is_null() {
                    // SAFETY: `p` is a leaked, never freed, NUL-terminated string.
                    unsafe { libc::unlink(p) };
                }
            }
            // SAFETY: signal and raise are async-signal-safe; the default action ends the process.
            unsafe {
                libc::signal(sig, libc::SIG_DFL);
                libc::raise(sig);
            }
        }

        fn install() {
            INSTALL.call_once(|| {
                for sig in SIGNALS {
                    // SAFETY: a zeroed sigaction with a handler that only calls async-signal-safe
                    // functions; the previous action is not needed.
                    unsafe {
                        let mut act: libc::sigaction = std::mem::zeroed();
                        act.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as usize;
                        libc::sigemptyset(&mut act.sa_mask);
                        for s in SIGNALS {
                            libc::sigaddset(&mut act.sa_mask, s);
                        }
                        // An ignored signal (nohup) stays ignored.
                        let mut old: libc::sigaction = std::mem::zeroed();
                        libc::sigaction(sig, std::ptr::null(), &mut old);
                        if old.sa_sigaction != libc::SIG_IGN {
                            libc::sigaction(sig, &act, std::ptr::null_mut());
                        }
                    }
                }
            });
        }

        /// Register `name` for removal on a signal; returns its slot (`usize::MAX` if the table is
        /// full: the file is then only removed on errors).
        pub(crate) fn register(name: &Path) -> usize {
            install();
            let Ok(c) = super::c_path(name) else {
                return usize::MAX;
            };
            let p = CString::into_raw(c);
            for (k, slot) in NAMES.iter().enumerate() {
                if slot
                    .compare_exchange(std::ptr::null_mut(), p, Ordering::SeqCst, Ordering::SeqCst)
                    .is_ok()
                {
                    return k;
                }
            }
            // SAFETY: `p` came from `CString::into_raw` above and was never shared.
            drop(unsafe { CString::from_raw(p) });
            usize::MAX
        }

        /// Forget slot `k` (the file was renamed or removed). Its string is leaked, not freed: a
        /// handler running on another thread may still be reading it.
        pub(crate) fn unregister(k: usize) {
            if let Some(slot) = NAMES.get(k) {
                slot.store(std::ptr::null_mut(), Ordering::SeqCst);
            }
        }
    }
}

/// Elsewhere: regular files and directories only, read-only by the file's attribute, named
/// temporaries removed on errors (no signal cleanup).
#[cfg(not(unix))]
mod sys {
    use std::fs::File;
    use std::path::Path;

    pub(super) fn kind_of(m: &std::fs::Metadata) -> Option<&'static str> {
        if m.is_file() {
            None
        } else if m.is_dir() {
            Some("a directory")
        } else {
            Some("not a regular file")
        }
    }

    pub(super) fn writable(_path: &Path, meta: &std::fs::Metadata) -> bool {
        !meta.permissions().readonly()
    }

    pub(super) fn same_file(_a: &std::fs::Metadata, _b: &std::fs::Metadata) -> Option<bool> {
        None
    }

    pub(super) fn keep_mode(file: &File, m: &std::fs::Metadata) {
        let _ = file.set_permissions(m.permissions());
    }

    pub(super) fn create_unnamed(_dir: &Path) -> std::io::Result<Option<File>> {
        Ok(None)
    }

    pub(super) fn link_unnamed(_file: &File, _name: &Path) -> std::io::Result<()> {
        Err(std::io::Error::other("no unnamed temporary files here"))
    }

    pub(crate) mod cleanup {
        pub(crate) fn register(_name: &std::path::Path) -> usize {
            usize::MAX
        }
        pub(crate) fn unregister(_k: usize) {}
    }
}
