//! OpenNebula's image model: image types, states and their transition rules, permissions and
//! object locks, and the template language. No I/O.

pub mod create;
pub mod datastore;
pub mod datastore_request;
pub mod driver;
pub mod image_type;
pub mod lock;
pub mod perms;
pub mod record;
pub mod state;
pub mod template;
pub mod transition;

pub use create::{CreateOptions, DevPrefix, DevPrefixError};
pub use datastore::{DatastoreType, DatastoreTypeError};
pub use datastore_request::{DatastoreMethod, DatastoreRefusal, DatastoreRequestError};
pub use driver::DriverFailure;
pub use image_type::{ChtypeFamily, ImageType, ImageTypeError, PersistenceAtCreate};
pub use lock::{LockError, LockLevel, LockLevelError, LockRequest, ObjectLock};
pub use perms::{
    Action, AuthDenied, AuthError, AuthRequest, BOOTSTRAP_DATASTORE_UMASK, Class, DEFAULT_UMASK,
    Denial, ONEADMIN_GROUP, ObjectAuth, ObjectKind, Operation, Permissions, PermissionsError,
    Requester, Right, USERS_GROUP, authorize, check_chmod,
};
pub use record::{
    Caller, Capacity, DatastoreRecord, DatastoreState, DiskType, ImageRecord, LockRecord,
    Ownership, SnapshotRecord, Snapshots,
};
pub use state::{ImageState, ImageStateError};
pub use template::{
    AttrName, AttrValue, Attribute, Duplicates, LikeStr, Parsed, Skipped, SubKey, Template,
    TemplateError, TemplateNameError, Token, Vector,
};
pub use transition::{
    CloneTarget, Command, Created, DatastoreFacts, DriverOp, Effect, ErrorCode, ImageFacts, Method,
    MethodError, NewImage, Origin, OrphansMode, OrphansModeError, Outcome, Refusal, RequestError,
    SnapshotFacts, SnapshotOp, allocate, perform, transition,
};
