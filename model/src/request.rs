//! Translation requests and their responses.

use crate::addr::{DeviceId, Iova, ProcessId, Spa};
use crate::fault::FaultRecord;

/// What a request does with memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Access {
    /// A read.
    #[default]
    Read,
    /// A write or AMO.
    Write,
    /// A read with execute intent.
    Exec,
}

impl Access {
    /// The lowercase name used by the vector and trace formats.
    pub fn name(self) -> &'static str {
        match self {
            Access::Read => "read",
            Access::Write => "write",
            Access::Exec => "exec",
        }
    }
}

/// An untranslated request (PCIe AT=00) from a device. The default is an
/// empty read of IOVA 0 by device 0 (a placeholder for a machine not in use).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Request {
    /// The requester.
    pub device_id: DeviceId,
    /// The process ID (PASID), if the request carries one.
    pub pid: Option<ProcessId>,
    /// Supervisor privilege requested; only meaningful with a process ID.
    pub privileged: bool,
    /// The address the device uses.
    pub iova: Iova,
    /// Read, write or execute.
    pub access: Access,
    /// Length in bytes; never crosses a 4 KiB boundary.
    pub len: u32,
}

/// How the IOMMU answers a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Translated: the access proceeds at the SPA.
    Success,
    /// The request is aborted with Unsupported Request.
    UnsupportedRequest,
    /// The request is aborted with Completer Abort (ATS translation requests only).
    CompleterAbort,
}

impl Status {
    /// The name used by the vector format.
    pub fn name(self) -> &'static str {
        match self {
            Status::Success => "success",
            Status::UnsupportedRequest => "unsupported_request",
            Status::CompleterAbort => "completer_abort",
        }
    }
}

/// The answer to a request: a status, the translated address on success, and on
/// failure the fault the translation met, with whether it reaches the fault queue
/// (a device context with `DTF` set suppresses the causes listed as not reported
/// under `DTF`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Response {
    /// Success or abort.
    pub status: Status,
    /// The translated address (zero unless the status is success).
    pub spa: Spa,
    /// The fault met, reported or not; `None` on success.
    pub fault: Option<FaultRecord>,
    /// Whether `fault` was suppressed by `DTF` instead of being reported.
    pub suppressed: bool,
}

impl Response {
    /// A successful translation.
    pub fn success(spa: Spa) -> Self {
        Response { status: Status::Success, spa, fault: None, suppressed: false }
    }

    /// An aborted untranslated request. The fault is reported unless `dtf` is set
    /// and its cause is one that `DTF` suppresses.
    pub fn fault(record: FaultRecord, dtf: bool) -> Self {
        Response {
            status: Status::UnsupportedRequest,
            spa: Spa(0),
            fault: Some(record),
            suppressed: dtf && !record.cause.reported_under_dtf(),
        }
    }

    /// The fault record that software sees in the fault queue, if any.
    pub fn reported_fault(&self) -> Option<&FaultRecord> {
        self.fault.as_ref().filter(|_| !self.suppressed)
    }
}
