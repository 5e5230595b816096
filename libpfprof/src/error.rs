//! The library's error type.

use std::fmt;
use std::io;
use std::path::PathBuf;

use nix::errno::Errno;

use crate::Pid;

/// What went wrong, named by its likely cause.
///
/// The variants cover what the module answers (see `include/pfprof.h`); an
/// unexpected errno ends up in [`Error::Io`] with the operation that failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// No pfprof device: the module is not loaded, or the node is missing.
    ModuleNotLoaded {
        /// The paths that were tried.
        tried: Vec<PathBuf>,
    },
    /// The file opened is not the pfprof device (it does not answer the
    /// version ioctl).
    NotPfprof {
        /// The path opened.
        path: PathBuf,
    },
    /// The module speaks another ABI version than this library.
    AbiMismatch {
        /// The module's [`ABI_VERSION`](crate::ABI_VERSION).
        module: u32,
        /// This library's [`ABI_VERSION`](crate::ABI_VERSION).
        library: u32,
    },
    /// Permission denied (EPERM/EACCES): the device's mode, a process of
    /// another user, or a privileged request (reset, period) without
    /// CAP_SYS_ADMIN.
    PermissionDenied {
        /// What was refused.
        op: &'static str,
    },
    /// No such process (ESRCH).
    NoSuchProcess {
        /// The process asked for (`None`: the caller).
        pid: Option<Pid>,
    },
    /// The process is already registered (EEXIST).
    AlreadyRegistered {
        /// The process (`None`: the caller).
        pid: Option<Pid>,
    },
    /// The process is not registered (ENOENT).
    NotRegistered {
        /// The process (`None`: the caller).
        pid: Option<Pid>,
    },
    /// The module refused an argument (EINVAL), e.g. a period out of range.
    InvalidArgument {
        /// What was refused.
        what: String,
    },
    /// A mapped or fixture buffer does not have the expected layout.
    Malformed {
        /// What is wrong with it.
        what: String,
    },
    /// Any other I/O error.
    Io {
        /// The operation that failed.
        op: &'static str,
        /// The underlying error.
        source: io::Error,
    },
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An [`Error::Io`] for `op` from an errno.
    pub(crate) fn io(op: &'static str, errno: Errno) -> Self {
        Error::Io {
            op,
            source: io::Error::from_raw_os_error(errno as i32),
        }
    }

    /// Maps the errno of a per-process request to the variant that names it.
    pub(crate) fn for_pid(op: &'static str, pid: Option<Pid>, errno: Errno) -> Self {
        match errno {
            Errno::ESRCH => Error::NoSuchProcess { pid },
            Errno::EEXIST => Error::AlreadyRegistered { pid },
            Errno::ENOENT => Error::NotRegistered { pid },
            Errno::EPERM | Errno::EACCES => Error::PermissionDenied { op },
            other => Error::io(op, other),
        }
    }
}

fn who(pid: &Option<Pid>) -> String {
    match pid {
        Some(p) => format!("process {p}"),
        None => "the calling process".to_owned(),
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::ModuleNotLoaded { tried } => {
                let tried: Vec<String> = tried.iter().map(|p| p.display().to_string()).collect();
                write!(
                    f,
                    "the pfprof module is not loaded or its device node is missing \
                     (tried {}); load pfprof.ko, or create a node with `mknod node c 423 0`",
                    tried.join(", ")
                )
            }
            Error::NotPfprof { path } => write!(
                f,
                "{} is not the pfprof device (it does not answer PFPROF_IOC_VERSION)",
                path.display()
            ),
            Error::AbiMismatch { module, library } => write!(
                f,
                "ABI version mismatch: the module speaks version {module}, \
                 this library version {library}; rebuild the tools or the module"
            ),
            Error::PermissionDenied { op } => write!(
                f,
                "permission denied: {op} (not your process, the device's mode, \
                 or a privileged request that needs CAP_SYS_ADMIN)"
            ),
            Error::NoSuchProcess { pid } => write!(f, "no such process: {}", who(pid)),
            Error::AlreadyRegistered { pid } => write!(f, "{} is already registered", who(pid)),
            Error::NotRegistered { pid } => write!(f, "{} is not registered", who(pid)),
            Error::InvalidArgument { what } => write!(f, "invalid argument: {what}"),
            Error::Malformed { what } => write!(f, "malformed buffer: {what}"),
            Error::Io { op, source } => write!(f, "{op}: {source}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}
