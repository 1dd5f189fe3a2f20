//! TensorFlow's C library, loaded at run time (`libtensorflow_cc.so.2` of
//! PyPI's `tensorflow-cpu` wheel, or any build with TensorFlow's C API):
//! the few functions the engine calls, looked up once, and owners for what
//! they hand back ([`Status`], [`Graph`], [`Session`], [`Tensor`]) that
//! free it exactly once. Every `unsafe` block of the TensorFlow engine is
//! in this file.
//!
//! One TensorFlow per process (its op and kernel registries are global):
//! the first model to load names the library, later models must name the
//! same one or none. Neither the library nor an op library is ever
//! unloaded (TensorFlow does not support it).

use std::collections::BTreeSet;
use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

/// Opaque C types.
#[repr(C)]
pub(super) struct RawStatus([u8; 0]);
#[repr(C)]
pub(super) struct RawGraph([u8; 0]);
#[repr(C)]
pub(super) struct RawSession([u8; 0]);
#[repr(C)]
pub(super) struct RawOptions([u8; 0]);
#[repr(C)]
pub(super) struct RawTensor([u8; 0]);
#[repr(C)]
pub(super) struct RawOperation([u8; 0]);
#[repr(C)]
pub(super) struct RawLibrary([u8; 0]);

/// `TF_Buffer`.
#[repr(C)]
pub(super) struct RawBuffer {
    data: *const c_void,
    length: usize,
    data_deallocator: Option<unsafe extern "C" fn(*mut c_void, usize)>,
}

/// `TF_Output`: an operation's output.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub(super) struct RawOutput {
    oper: *mut RawOperation,
    index: c_int,
}

// SAFETY: an output names an operation of a session's graph, which lives
// as long as its `Session` and is only read (by TF_SessionRun, which
// several threads may call at once); the engine keeps outputs beside
// their session.
unsafe impl Send for RawOutput {}
// SAFETY: as above.
unsafe impl Sync for RawOutput {}

/// `TF_DataType` values the engine uses.
pub(super) mod dtype {
    pub const FLOAT: i32 = 1;
    pub const DOUBLE: i32 = 2;
    pub const UINT8: i32 = 4;
    pub const STRING: i32 = 7;
    pub const INT64: i32 = 9;
}

macro_rules! api {
    ($( $field:ident = $symbol:literal : fn($($arg:ty),*) $(-> $ret:ty)? ;)*) => {
        /// The C functions, looked up once.
        struct Api {
            $( $field: unsafe extern "C" fn($($arg),*) $(-> $ret)?, )*
        }

        impl Api {
            /// Looks every function up.
            ///
            /// # Safety
            ///
            /// `lib` must be TensorFlow's C library, whose functions have
            /// these signatures (tensorflow/c/c_api.h, tf_tensor.h).
            unsafe fn load(lib: &libloading::Library) -> Result<Api, String> {
                Ok(Api {
                    $( $field: *unsafe { lib.get(concat!($symbol, "\0").as_bytes()) }
                        .map_err(|_| format!("it has no function {} (not TensorFlow's C library?)", $symbol))?, )*
                })
            }
        }
    };
}

api! {
    version = "TF_Version": fn() -> *const c_char;
    new_status = "TF_NewStatus": fn() -> *mut RawStatus;
    delete_status = "TF_DeleteStatus": fn(*mut RawStatus);
    get_code = "TF_GetCode": fn(*const RawStatus) -> c_int;
    message = "TF_Message": fn(*const RawStatus) -> *const c_char;
    new_options = "TF_NewSessionOptions": fn() -> *mut RawOptions;
    delete_options = "TF_DeleteSessionOptions": fn(*mut RawOptions);
    set_config = "TF_SetConfig": fn(*mut RawOptions, *const c_void, usize, *mut RawStatus);
    new_graph = "TF_NewGraph": fn() -> *mut RawGraph;
    delete_graph = "TF_DeleteGraph": fn(*mut RawGraph);
    new_buffer = "TF_NewBuffer": fn() -> *mut RawBuffer;
    delete_buffer = "TF_DeleteBuffer": fn(*mut RawBuffer);
    load_saved_model = "TF_LoadSessionFromSavedModel": fn(
        *const RawOptions, *const RawBuffer, *const c_char, *const *const c_char, c_int,
        *mut RawGraph, *mut RawBuffer, *mut RawStatus) -> *mut RawSession;
    close_session = "TF_CloseSession": fn(*mut RawSession, *mut RawStatus);
    delete_session = "TF_DeleteSession": fn(*mut RawSession, *mut RawStatus);
    operation_by_name = "TF_GraphOperationByName": fn(*mut RawGraph, *const c_char) -> *mut RawOperation;
    operation_outputs = "TF_OperationNumOutputs": fn(*mut RawOperation) -> c_int;
    session_run = "TF_SessionRun": fn(
        *mut RawSession, *const RawBuffer,
        *const RawOutput, *const *mut RawTensor, c_int,
        *const RawOutput, *mut *mut RawTensor, c_int,
        *const *const RawOperation, c_int, *mut RawBuffer, *mut RawStatus);
    allocate_tensor = "TF_AllocateTensor": fn(c_int, *const i64, c_int, usize) -> *mut RawTensor;
    delete_tensor = "TF_DeleteTensor": fn(*mut RawTensor);
    tensor_type = "TF_TensorType": fn(*const RawTensor) -> c_int;
    num_dims = "TF_NumDims": fn(*const RawTensor) -> c_int;
    dim = "TF_Dim": fn(*const RawTensor, c_int) -> i64;
    tensor_byte_size = "TF_TensorByteSize": fn(*const RawTensor) -> usize;
    tensor_data = "TF_TensorData": fn(*const RawTensor) -> *mut c_void;
    load_library = "TF_LoadLibrary": fn(*const c_char, *mut RawStatus) -> *mut RawLibrary;
    new_tensor = "TF_NewTensor": fn(
        c_int, *const i64, c_int, *mut c_void, usize,
        Option<unsafe extern "C" fn(*mut c_void, usize, *mut c_void)>, *mut c_void) -> *mut RawTensor;
    string_init = "TF_StringInit": fn(*mut c_void);
    string_copy = "TF_StringCopy": fn(*mut c_void, *const c_char, usize);
    string_dealloc = "TF_StringDealloc": fn(*mut c_void);
}

/// TensorFlow's C library, loaded.
pub struct Tf {
    api: Api,
    path: PathBuf,
    version: String,
    /// Op libraries loaded (by canonical path).
    op_libraries: Mutex<BTreeSet<PathBuf>>,
    _lib: libloading::Library,
}

static TF: OnceLock<Tf> = OnceLock::new();
static LOADING: Mutex<()> = Mutex::new(());

impl Tf {
    /// The process's TensorFlow, loaded on first use from `library` (else
    /// the environment's `BPRWIRE_TENSORFLOW_LIBRARY`). Once loaded, a
    /// model that names no library gets it.
    ///
    /// # Errors
    ///
    /// No library named, a file that is missing or not a shared library,
    /// a library without TensorFlow's C API, or another library than the
    /// one already loaded.
    pub fn get(library: Option<&Path>) -> Result<&'static Tf, String> {
        let _one = LOADING
            .lock()
            .map_err(|_| "TensorFlow's loader lock is poisoned")?;
        if let Some(tf) = TF.get() {
            return match library {
                Some(p) if std::fs::canonicalize(p).ok().as_deref() != Some(tf.path.as_path()) => {
                    Err(format!(
                        "TensorFlow library {}: this process has TensorFlow from {} (one per process)",
                        p.display(),
                        tf.path.display()
                    ))
                }
                _ => Ok(tf),
            };
        }
        let named = match library {
            Some(p) => Some(p.to_path_buf()),
            None => std::env::var_os(super::LIBRARY_ENV)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from),
        };
        let path = named.ok_or_else(|| {
            format!(
                "no TensorFlow library: set model.library or {} (the tensorflow-cpu wheel has one: tensorflow/libtensorflow_cc.so.2)",
                super::LIBRARY_ENV
            )
        })?;
        let fail = |e: String| format!("TensorFlow library {}: {e}", path.display());
        crate::files::check_regular(&path, crate::files::LIBRARY_BYTES).map_err(fail)?;
        let canonical = std::fs::canonicalize(&path).map_err(|e| fail(e.to_string()))?;
        // SAFETY: loading a shared library runs its initializers; the
        // operator named it as TensorFlow's C library, and it is checked
        // to export the C API before any function is called. RTLD_GLOBAL:
        // op libraries loaded later resolve TensorFlow's symbols from it.
        let lib: libloading::Library = unsafe {
            libloading::os::unix::Library::open(
                Some(&canonical),
                libloading::os::unix::RTLD_NOW | libloading::os::unix::RTLD_GLOBAL,
            )
        }
        .map_err(|e| fail(e.to_string()))?
        .into();
        // SAFETY: the functions are looked up by their C API names, with
        // the C API's signatures.
        let api = match unsafe { Api::load(&lib) } {
            Ok(api) => api,
            Err(e) => {
                // Left loaded: its initializers ran (a TensorFlow library
                // without the C API starts threads), and unloading such a
                // library under them is not safe.
                std::mem::forget(lib);
                return Err(fail(e));
            }
        };
        // SAFETY: TF_Version takes nothing and returns a static C string.
        let version = unsafe { CStr::from_ptr((api.version)()) }
            .to_string_lossy()
            .into_owned();
        Ok(TF.get_or_init(|| Tf {
            api,
            path: canonical,
            version,
            op_libraries: Mutex::new(BTreeSet::new()),
            _lib: lib,
        }))
    }

    /// TensorFlow's version (`TF_Version`).
    pub fn version(&self) -> &str {
        &self.version
    }

    /// Loads an op library (`TF_LoadLibrary`), registering its ops and
    /// kernels; once per file.
    ///
    /// # Errors
    ///
    /// TensorFlow's refusal (a missing file, a library built for another
    /// TensorFlow, ...), naming the library.
    pub fn load_op_library(&self, path: &Path) -> Result<(), String> {
        let fail = |e: String| format!("op library {}: {e}", path.display());
        let canonical = std::fs::canonicalize(path).map_err(|e| fail(e.to_string()))?;
        let mut loaded = self.op_libraries.lock().map_err(|_| "op library lock poisoned")?;
        if loaded.contains(&canonical) {
            return Ok(());
        }
        let c_path = c_string(&canonical.to_string_lossy()).map_err(fail)?;
        let status = self.status()?;
        // SAFETY: a valid C string and status; the handle returned is kept
        // for the life of the process (never deleted: its ops stay
        // registered).
        unsafe { (self.api.load_library)(c_path.as_ptr(), status.raw) };
        status.check("TF_LoadLibrary").map_err(fail)?;
        loaded.insert(canonical);
        Ok(())
    }

    /// A new status.
    pub(super) fn status(&self) -> Result<Status<'_>, String> {
        // SAFETY: TF_NewStatus takes nothing; null is checked.
        let raw = unsafe { (self.api.new_status)() };
        if raw.is_null() {
            return Err("TF_NewStatus failed".into());
        }
        Ok(Status { tf: self, raw })
    }

    /// Loads the SavedModel in `dir` with `tags`, its session configured
    /// by `config` (a serialized `ConfigProto`): the session, its graph,
    /// and the serialized `MetaGraphDef`.
    ///
    /// # Errors
    ///
    /// TensorFlow's refusal, naming the call.
    pub(super) fn load_saved_model(
        &'static self,
        dir: &Path,
        tags: &[String],
        config: &[u8],
    ) -> Result<(Session, Vec<u8>), String> {
        let status = self.status()?;
        let c_dir = c_string(&dir.to_string_lossy())?;
        let c_tags = tags.iter().map(|t| c_string(t)).collect::<Result<Vec<_>, _>>()?;
        let tag_ptrs: Vec<*const c_char> = c_tags.iter().map(|t| t.as_ptr()).collect();
        let tag_count = c_int::try_from(tag_ptrs.len()).map_err(|_| "too many tags")?;
        // SAFETY: each object is checked for null once made, owned by a
        // guard that frees it once; the pointers passed are to live
        // C strings and buffers; the config bytes outlive TF_SetConfig,
        // which copies them.
        unsafe {
            let options = Owned::new((self.api.new_options)(), self.api.delete_options)?;
            (self.api.set_config)(options.raw, config.as_ptr().cast(), config.len(), status.raw);
            status.check("TF_SetConfig")?;
            let graph = Graph(Owned::new((self.api.new_graph)(), self.api.delete_graph)?);
            let meta = Owned::new((self.api.new_buffer)(), self.api.delete_buffer)?;
            let session = (self.api.load_saved_model)(
                options.raw,
                std::ptr::null(),
                c_dir.as_ptr(),
                tag_ptrs.as_ptr(),
                tag_count,
                graph.0.raw,
                meta.raw,
                status.raw,
            );
            status.check("TF_LoadSessionFromSavedModel")?;
            if session.is_null() {
                return Err("TF_LoadSessionFromSavedModel returned no session".into());
            }
            let session = Session {
                tf: self,
                raw: session,
                graph,
            };
            let buffer = &*meta.raw;
            let bytes = if buffer.data.is_null() {
                Vec::new()
            } else {
                std::slice::from_raw_parts(buffer.data.cast::<u8>(), buffer.length).to_vec()
            };
            Ok((session, bytes))
        }
    }
}

/// A C string of `s`.
fn c_string(s: &str) -> Result<CString, String> {
    CString::new(s).map_err(|_| format!("{s:?} holds a NUL byte"))
}

/// A TensorFlow object freed by `free` when dropped.
struct Owned<T> {
    raw: *mut T,
    free: unsafe extern "C" fn(*mut T),
}

impl<T> Owned<T> {
    /// Owns `raw`, refused when null.
    fn new(raw: *mut T, free: unsafe extern "C" fn(*mut T)) -> Result<Owned<T>, String> {
        if raw.is_null() {
            return Err("TensorFlow could not allocate an object".into());
        }
        Ok(Owned { raw, free })
    }
}

impl<T> Drop for Owned<T> {
    fn drop(&mut self) {
        // SAFETY: `raw` was made by the matching TF_New* and is freed
        // once, here.
        unsafe { (self.free)(self.raw) }
    }
}

/// A `TF_Status`.
pub(super) struct Status<'a> {
    tf: &'a Tf,
    raw: *mut RawStatus,
}

impl Status<'_> {
    /// `Ok` for TF_OK, else the call's name, the code and TensorFlow's
    /// message.
    fn check(&self, call: &str) -> Result<(), String> {
        // SAFETY: a live status.
        let code = unsafe { (self.tf.api.get_code)(self.raw) };
        if code == 0 {
            return Ok(());
        }
        // SAFETY: TF_Message returns a C string owned by the live status.
        let message = unsafe { CStr::from_ptr((self.tf.api.message)(self.raw)) }.to_string_lossy();
        Err(format!("{call}: {} ({message})", code_name(code)))
    }
}

impl Drop for Status<'_> {
    fn drop(&mut self) {
        // SAFETY: made by TF_NewStatus, freed once.
        unsafe { (self.tf.api.delete_status)(self.raw) }
    }
}

/// TensorFlow's status code names (tensorflow/c/tf_status.h).
fn code_name(code: c_int) -> &'static str {
    match code {
        1 => "CANCELLED",
        2 => "UNKNOWN",
        3 => "INVALID_ARGUMENT",
        4 => "DEADLINE_EXCEEDED",
        5 => "NOT_FOUND",
        6 => "ALREADY_EXISTS",
        7 => "PERMISSION_DENIED",
        8 => "RESOURCE_EXHAUSTED",
        9 => "FAILED_PRECONDITION",
        10 => "ABORTED",
        11 => "OUT_OF_RANGE",
        12 => "UNIMPLEMENTED",
        13 => "INTERNAL",
        14 => "UNAVAILABLE",
        15 => "DATA_LOSS",
        16 => "UNAUTHENTICATED",
        _ => "error",
    }
}

/// A `TF_Graph`.
struct Graph(Owned<RawGraph>);

/// A session over a loaded SavedModel and its graph: closed and deleted,
/// then its graph deleted, when dropped.
pub(super) struct Session {
    tf: &'static Tf,
    raw: *mut RawSession,
    graph: Graph,
}

// SAFETY: TensorFlow's sessions and graphs may be used from any thread,
// and TF_SessionRun may be called from several at once (the C API's
// contract, as TensorFlow's own Session::Run); the graph is only read
// after loading.
unsafe impl Send for Session {}
// SAFETY: as above: every method takes `&self` and only runs the session
// or reads the graph.
unsafe impl Sync for Session {}

impl Session {
    /// The graph output `name` (`operation:index`, as a `TensorInfo`
    /// names it).
    ///
    /// # Errors
    ///
    /// No such operation or output in the graph.
    pub(super) fn output(&self, name: &str) -> Result<RawOutput, String> {
        let (op, index) = match name.rsplit_once(':') {
            Some((op, i)) => (
                op,
                i.parse::<c_int>()
                    .map_err(|_| format!("{name:?} is not operation:index"))?,
            ),
            None => (name, 0),
        };
        let c_op = c_string(op)?;
        // SAFETY: a live graph and a C string; the operation returned is
        // owned by the graph, which lives as long as the session.
        let oper = unsafe { (self.tf.api.operation_by_name)(self.graph.0.raw, c_op.as_ptr()) };
        if oper.is_null() {
            return Err(format!("the graph has no operation {op:?}"));
        }
        // SAFETY: a live operation of the graph.
        let outputs = unsafe { (self.tf.api.operation_outputs)(oper) };
        if index < 0 || index >= outputs {
            return Err(format!("operation {op:?} has no output {index}"));
        }
        Ok(RawOutput { oper, index })
    }

    /// Runs the session: `inputs` fed to `feeds`, `fetches` fetched.
    ///
    /// # Errors
    ///
    /// TensorFlow's refusal (`TF_SessionRun` and its message).
    pub(super) fn run(
        &self,
        feeds: &[RawOutput],
        inputs: &[&Tensor],
        fetches: &[RawOutput],
    ) -> Result<Vec<Tensor>, String> {
        if feeds.len() != inputs.len() {
            return Err(format!("{} tensors for {} inputs", inputs.len(), feeds.len()));
        }
        let status = self.tf.status()?;
        let values: Vec<*mut RawTensor> = inputs.iter().map(|t| t.raw).collect();
        let mut out: Vec<*mut RawTensor> = vec![std::ptr::null_mut(); fetches.len()];
        let n_in = c_int::try_from(feeds.len()).map_err(|_| "too many inputs")?;
        let n_out = c_int::try_from(fetches.len()).map_err(|_| "too many outputs")?;
        // SAFETY: a live session; feeds and fetches are outputs of its
        // graph; the input tensors are live (TensorFlow does not take
        // them); `out` has room for one tensor per fetch, each returned
        // tensor owned by a `Tensor` below whatever the status.
        unsafe {
            (self.tf.api.session_run)(
                self.raw,
                std::ptr::null(),
                feeds.as_ptr(),
                values.as_ptr(),
                n_in,
                fetches.as_ptr(),
                out.as_mut_ptr(),
                n_out,
                std::ptr::null(),
                0,
                std::ptr::null_mut(),
                status.raw,
            );
        }
        let tensors: Vec<Option<Tensor>> = out
            .into_iter()
            .map(|raw| (!raw.is_null()).then_some(Tensor { tf: self.tf, raw }))
            .collect();
        status.check("TF_SessionRun")?;
        tensors
            .into_iter()
            .map(|t| t.ok_or_else(|| "TF_SessionRun returned no tensor for an output".to_string()))
            .collect()
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        if let Ok(status) = self.tf.status() {
            // SAFETY: a live session, closed then deleted once; its graph
            // is deleted after it (the field drops after this).
            unsafe {
                (self.tf.api.close_session)(self.raw, status.raw);
                (self.tf.api.delete_session)(self.raw, status.raw);
            }
        }
    }
}

/// A `TF_Tensor`, deleted when dropped.
pub(super) struct Tensor {
    tf: &'static Tf,
    raw: *mut RawTensor,
}

// SAFETY: a tensor owned here is referenced by nothing else once made
// (inputs) or returned (outputs); TensorFlow's tensors may be freed on any
// thread.
unsafe impl Send for Tensor {}

/// Element types a tensor is read into or written from.
pub(super) trait Plain: Copy + Default {
    /// Its `TF_DataType`.
    const DTYPE: i32;
}
impl Plain for f32 {
    const DTYPE: i32 = dtype::FLOAT;
}
impl Plain for f64 {
    const DTYPE: i32 = dtype::DOUBLE;
}
impl Plain for i64 {
    const DTYPE: i32 = dtype::INT64;
}
impl Plain for u8 {
    const DTYPE: i32 = dtype::UINT8;
}

impl Tensor {
    /// A tensor of `dims` holding a copy of `data` (as many elements as
    /// `dims` says).
    ///
    /// # Errors
    ///
    /// An element count that does not match `dims`, or TensorFlow out of
    /// memory.
    pub(super) fn from_slice<T: Plain>(tf: &'static Tf, dims: &[i64], data: &[T]) -> Result<Tensor, String> {
        let count = dims.iter().try_fold(1usize, |n, &d| {
            usize::try_from(d).ok().and_then(|d| n.checked_mul(d))
        });
        if count != Some(data.len()) {
            return Err(format!("{} elements for dimensions {dims:?}", data.len()));
        }
        let bytes = std::mem::size_of_val(data);
        let n_dims = c_int::try_from(dims.len()).map_err(|_| "too many dimensions")?;
        // SAFETY: `dims` holds `n_dims` sizes whose product times the
        // element size is `bytes`; null is checked.
        let raw = unsafe { (tf.api.allocate_tensor)(T::DTYPE, dims.as_ptr(), n_dims, bytes) };
        if raw.is_null() {
            return Err(format!("TensorFlow could not allocate a tensor of {bytes} bytes"));
        }
        let tensor = Tensor { tf, raw };
        if bytes > 0 {
            // SAFETY: the tensor's buffer holds `bytes` bytes (checked
            // below it was given that many), distinct from `data`.
            unsafe {
                let dst = (tf.api.tensor_data)(raw).cast::<u8>();
                if dst.is_null() || (tf.api.tensor_byte_size)(raw) != bytes {
                    return Err("TensorFlow allocated a tensor of another size".into());
                }
                std::ptr::copy_nonoverlapping(data.as_ptr().cast::<u8>(), dst, bytes);
            }
        }
        Ok(tensor)
    }

    /// Its dimensions.
    pub(super) fn dims(&self) -> Vec<i64> {
        // SAFETY: a live tensor; indices below its rank.
        unsafe {
            let n = (self.tf.api.num_dims)(self.raw);
            (0..n).map(|i| (self.tf.api.dim)(self.raw, i)).collect()
        }
    }

    /// A copy of its elements, when they are `T`s.
    ///
    /// # Errors
    ///
    /// A tensor of another element type, or a buffer of another size than
    /// its dimensions say.
    pub(super) fn to_vec<T: Plain>(&self) -> Result<Vec<T>, String> {
        // SAFETY: a live tensor.
        let (dtype, bytes, data) = unsafe {
            (
                (self.tf.api.tensor_type)(self.raw),
                (self.tf.api.tensor_byte_size)(self.raw),
                (self.tf.api.tensor_data)(self.raw),
            )
        };
        if dtype != T::DTYPE {
            return Err(format!("a tensor of TF_DataType {dtype}, not {}", T::DTYPE));
        }
        let count = self
            .dims()
            .iter()
            .try_fold(1usize, |n, &d| {
                usize::try_from(d).ok().and_then(|d| n.checked_mul(d))
            })
            .ok_or("a tensor of negative or too many elements")?;
        let size = std::mem::size_of::<T>();
        if count.checked_mul(size) != Some(bytes) || (bytes > 0 && data.is_null()) {
            return Err(format!("a tensor of {bytes} bytes for {count} elements"));
        }
        let mut out = vec![T::default(); count];
        if bytes > 0 {
            // SAFETY: the tensor's buffer holds `bytes` bytes, copied into
            // `out` (as many bytes, its own allocation, aligned for T;
            // every bit pattern is a valid f32, f64, i64 or u8).
            unsafe { std::ptr::copy_nonoverlapping(data.cast::<u8>(), out.as_mut_ptr().cast::<u8>(), bytes) };
        }
        Ok(out)
    }
}

/// `sizeof(TF_TString)`: a union of 24 bytes on 64-bit platforms
/// (tensorflow/tsl/platform/ctstring_internal.h: the large form's size,
/// capacity and pointer; TF_DataTypeSize says 0 for strings).
const TSTRING_BYTES: usize = 24;
const _: () = assert!(
    std::mem::size_of::<usize>() == 8,
    "TF_TString is laid out for 64-bit platforms here"
);

/// A string tensor's buffer, as its deallocator needs it.
struct StringBuffer {
    dealloc: unsafe extern "C" fn(*mut c_void),
    n: usize,
    layout: std::alloc::Layout,
}

/// The deallocator of a string tensor's buffer, called by TensorFlow once
/// nothing refers to it any more: each string freed, then the buffer.
///
/// # Safety
///
/// `data` and `arg` as `Tensor::strings` made them, called once.
unsafe extern "C" fn free_strings(data: *mut c_void, _len: usize, arg: *mut c_void) {
    // SAFETY: `arg` is the Box `Tensor::strings` leaked for this buffer,
    // taken back once; `data` holds `n` initialized strings and was
    // allocated with `layout`.
    unsafe {
        let buffer = Box::from_raw(arg.cast::<StringBuffer>());
        for i in 0..buffer.n {
            (buffer.dealloc)(data.cast::<u8>().add(i * TSTRING_BYTES).cast());
        }
        std::alloc::dealloc(data.cast(), buffer.layout);
    }
}

impl Tensor {
    /// A `DT_STRING` tensor `[items.len()]` holding copies of `items`
    /// (`TF_StringCopy`), in a buffer of ours that TensorFlow frees through
    /// `free_strings` when it lets go of it: whatever the graph keeps of
    /// its input, nothing refers to the caller's bytes or to freed memory.
    ///
    /// # Errors
    ///
    /// Out of memory, or TensorFlow refusing the buffer.
    pub(super) fn strings(tf: &'static Tf, items: &[&[u8]]) -> Result<Tensor, String> {
        let n = items.len();
        let bytes = n.checked_mul(TSTRING_BYTES).ok_or("too many strings")?;
        let dims = [i64::try_from(n).map_err(|_| "too many strings")?];
        // 64-byte aligned (Eigen's largest), so TensorFlow takes the buffer
        // as it is; never of size 0.
        let layout =
            std::alloc::Layout::from_size_align(bytes.max(TSTRING_BYTES), 64).map_err(|e| e.to_string())?;
        // SAFETY: a layout of non-zero size.
        let data = unsafe { std::alloc::alloc(layout) };
        if data.is_null() {
            return Err(format!("cannot allocate {n} strings"));
        }
        // SAFETY: `data` holds `n` elements of TSTRING_BYTES, each
        // initialized before it is assigned a copy of its item; the
        // deallocator's argument is leaked here and taken back by it.
        unsafe {
            for (i, item) in items.iter().enumerate() {
                let element = data.add(i * TSTRING_BYTES).cast::<c_void>();
                (tf.api.string_init)(element);
                (tf.api.string_copy)(element, item.as_ptr().cast(), item.len());
            }
            let arg = Box::into_raw(Box::new(StringBuffer {
                dealloc: tf.api.string_dealloc,
                n,
                layout,
            }));
            let raw = (tf.api.new_tensor)(
                dtype::STRING,
                dims.as_ptr(),
                1,
                data.cast(),
                bytes,
                Some(free_strings),
                arg.cast(),
            );
            if raw.is_null() {
                // Whether TensorFlow called the deallocator is not said:
                // the buffer is left (leaked) rather than freed twice.
                return Err("TensorFlow refused a tensor of strings".into());
            }
            Ok(Tensor { tf, raw })
        }
    }
}

impl Drop for Tensor {
    fn drop(&mut self) {
        // SAFETY: made by TensorFlow for us, freed once.
        unsafe { (self.tf.api.delete_tensor)(self.raw) }
    }
}
