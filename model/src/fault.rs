//! Fault causes, transaction types and the fault record exactly as the fault queue
//! holds it (`iommu_in_memory_queues.adoc`, "Fault/Event-Queue").

use crate::addr::{DeviceId, Iova};
use crate::request::{Access, Request};
use std::fmt;

/// A fault `CAUSE` code (the "Fault record CAUSE field encodings" table).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cause(pub u16);

impl Cause {
    /// Instruction access fault.
    pub const INSTRUCTION_ACCESS: Cause = Cause(1);
    /// Read access fault.
    pub const READ_ACCESS: Cause = Cause(5);
    /// Write/AMO access fault.
    pub const WRITE_ACCESS: Cause = Cause(7);
    /// Instruction page fault.
    pub const INSTRUCTION_PAGE: Cause = Cause(12);
    /// Read page fault.
    pub const READ_PAGE: Cause = Cause(13);
    /// Write/AMO page fault.
    pub const WRITE_PAGE: Cause = Cause(15);
    /// Instruction guest-page fault.
    pub const INSTRUCTION_GUEST_PAGE: Cause = Cause(20);
    /// Read guest-page fault.
    pub const READ_GUEST_PAGE: Cause = Cause(21);
    /// Write/AMO guest-page fault.
    pub const WRITE_GUEST_PAGE: Cause = Cause(23);
    /// All inbound transactions disallowed (`iommu_mode` is Off).
    pub const ALL_DISALLOWED: Cause = Cause(256);
    /// DDT entry load access fault.
    pub const DDT_LOAD_ACCESS: Cause = Cause(257);
    /// DDT entry not valid.
    pub const DDT_NOT_VALID: Cause = Cause(258);
    /// DDT entry misconfigured.
    pub const DDT_MISCONFIGURED: Cause = Cause(259);
    /// Transaction type disallowed.
    pub const TRANSACTION_DISALLOWED: Cause = Cause(260);
    /// MSI PTE load access fault.
    pub const MSI_PTE_LOAD_ACCESS: Cause = Cause(261);
    /// MSI PTE not valid.
    pub const MSI_PTE_NOT_VALID: Cause = Cause(262);
    /// MSI PTE misconfigured.
    pub const MSI_PTE_MISCONFIGURED: Cause = Cause(263);
    /// MRIF access fault.
    pub const MRIF_ACCESS: Cause = Cause(264);
    /// PDT entry load access fault.
    pub const PDT_LOAD_ACCESS: Cause = Cause(265);
    /// PDT entry not valid.
    pub const PDT_NOT_VALID: Cause = Cause(266);
    /// PDT entry misconfigured.
    pub const PDT_MISCONFIGURED: Cause = Cause(267);
    /// DDT data corruption.
    pub const DDT_CORRUPTION: Cause = Cause(268);
    /// PDT data corruption.
    pub const PDT_CORRUPTION: Cause = Cause(269);
    /// MSI page-table data corruption.
    pub const MSI_PT_CORRUPTION: Cause = Cause(270);
    /// MSI MRIF data corruption.
    pub const MRIF_CORRUPTION: Cause = Cause(271);
    /// Internal data-path error.
    pub const INTERNAL_DATAPATH: Cause = Cause(272);
    /// IOMMU MSI write access fault.
    pub const MSI_WRITE_ACCESS: Cause = Cause(273);
    /// First/second-stage page-table data corruption.
    pub const PT_CORRUPTION: Cause = Cause(274);

    /// The access fault for the original access type (1, 5 or 7).
    pub fn access_fault(access: Access) -> Cause {
        match access {
            Access::Exec => Cause::INSTRUCTION_ACCESS,
            Access::Read => Cause::READ_ACCESS,
            Access::Write => Cause::WRITE_ACCESS,
        }
    }

    /// The page fault for the original access type (12, 13 or 15).
    pub fn page_fault(access: Access) -> Cause {
        match access {
            Access::Exec => Cause::INSTRUCTION_PAGE,
            Access::Read => Cause::READ_PAGE,
            Access::Write => Cause::WRITE_PAGE,
        }
    }

    /// The guest-page fault for the original access type (20, 21 or 23).
    pub fn guest_page_fault(access: Access) -> Cause {
        match access {
            Access::Exec => Cause::INSTRUCTION_GUEST_PAGE,
            Access::Read => Cause::READ_GUEST_PAGE,
            Access::Write => Cause::WRITE_GUEST_PAGE,
        }
    }

    /// Whether the fault is still reported when the device context sets `DTF`
    /// (the "Reported if DTF is 1?" column). Faults that are not part of the
    /// address-translation process are reported regardless.
    pub fn reported_under_dtf(self) -> bool {
        matches!(self.0, 256..=259 | 268 | 272 | 273)
    }

    /// Whether this is a guest-page fault (iotval2 then carries the GPA).
    pub fn is_guest_page_fault(self) -> bool {
        matches!(self.0, 20 | 21 | 23)
    }

    /// A short name for reports.
    pub fn name(self) -> &'static str {
        match self.0 {
            1 => "instruction access fault",
            4 => "read address misaligned",
            5 => "read access fault",
            6 => "write/AMO address misaligned",
            7 => "write/AMO access fault",
            12 => "instruction page fault",
            13 => "read page fault",
            15 => "write/AMO page fault",
            20 => "instruction guest-page fault",
            21 => "read guest-page fault",
            23 => "write/AMO guest-page fault",
            256 => "all inbound transactions disallowed",
            257 => "DDT entry load access fault",
            258 => "DDT entry not valid",
            259 => "DDT entry misconfigured",
            260 => "transaction type disallowed",
            261 => "MSI PTE load access fault",
            262 => "MSI PTE not valid",
            263 => "MSI PTE misconfigured",
            264 => "MRIF access fault",
            265 => "PDT entry load access fault",
            266 => "PDT entry not valid",
            267 => "PDT entry misconfigured",
            268 => "DDT data corruption",
            269 => "PDT data corruption",
            270 => "MSI PT data corruption",
            271 => "MSI MRIF data corruption",
            272 => "internal data path error",
            273 => "IOMMU MSI write access fault",
            274 => "first/second-stage PT data corruption",
            _ => "reserved or custom cause",
        }
    }
}

impl fmt::Debug for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.0, self.name())
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.0, self.name())
    }
}

/// The `TTYP` transaction type of a fault record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Ttyp(pub u8);

impl Ttyp {
    /// Not caused by an inbound transaction.
    pub const NONE: Ttyp = Ttyp(0);
    /// Untranslated read for execute.
    pub const UNTRANSLATED_EXEC: Ttyp = Ttyp(1);
    /// Untranslated read.
    pub const UNTRANSLATED_READ: Ttyp = Ttyp(2);
    /// Untranslated write/AMO.
    pub const UNTRANSLATED_WRITE: Ttyp = Ttyp(3);

    /// The type of an untranslated request of the given access.
    pub fn untranslated(access: Access) -> Ttyp {
        match access {
            Access::Exec => Ttyp::UNTRANSLATED_EXEC,
            Access::Read => Ttyp::UNTRANSLATED_READ,
            Access::Write => Ttyp::UNTRANSLATED_WRITE,
        }
    }
}

/// A fault record as written to the fault queue: 32 bytes, four doublewords.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FaultRecord {
    /// `CAUSE`, bits 11:0.
    pub cause: Cause,
    /// `TTYP`, bits 39:34.
    pub ttyp: Ttyp,
    /// `DID`, bits 63:40.
    pub did: DeviceId,
    /// `PV`, bit 32: the transaction had a process ID.
    pub pv: bool,
    /// `PID`, bits 31:12 (0 when `PV` is 0).
    pub pid: u32,
    /// `PRIV`, bit 33: supervisor privilege (0 when `PV` is 0).
    pub privileged: bool,
    /// `iotval`: the IOVA of the transaction.
    pub iotval: u64,
    /// `iotval2`: for guest-page faults, GPA bits 63:2, bit 0 set for an implicit
    /// access of the first stage and bit 1 for an implicit write.
    pub iotval2: u64,
}

impl FaultRecord {
    /// A record for `req` with the given cause and `iotval2`.
    pub fn for_request(req: &Request, cause: Cause, iotval2: u64) -> Self {
        let pv = req.pid.is_some();
        FaultRecord {
            cause,
            ttyp: Ttyp::untranslated(req.access),
            did: req.device_id,
            pv,
            pid: req.pid.map_or(0, |p| p.0),
            privileged: pv && req.privileged,
            iotval: req.iova.0,
            iotval2,
        }
    }

    /// The four doublewords of the record, as the fault queue stores them.
    pub fn to_words(&self) -> [u64; 4] {
        let w0 = u64::from(self.cause.0 & 0xfff)
            | (u64::from(self.pid & 0xf_ffff) << 12)
            | (u64::from(self.pv) << 32)
            | (u64::from(self.privileged) << 33)
            | (u64::from(self.ttyp.0 & 0x3f) << 34)
            | (u64::from(self.did.0 & 0xff_ffff) << 40);
        [w0, 0, self.iotval, self.iotval2]
    }

    /// Decodes a record from its four doublewords (the custom and reserved
    /// doubleword is ignored).
    pub fn from_words(w: [u64; 4]) -> Self {
        FaultRecord {
            cause: Cause((w[0] & 0xfff) as u16),
            pid: ((w[0] >> 12) & 0xf_ffff) as u32,
            pv: (w[0] >> 32) & 1 == 1,
            privileged: (w[0] >> 33) & 1 == 1,
            ttyp: Ttyp(((w[0] >> 34) & 0x3f) as u8),
            did: DeviceId(((w[0] >> 40) & 0xff_ffff) as u32),
            iotval: w[2],
            iotval2: w[3],
        }
    }

    /// The IOVA the record reports.
    pub fn iova(&self) -> Iova {
        Iova(self.iotval)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::addr::ProcessId;

    #[test]
    fn dtf_suppresses_only_translation_faults() {
        for c in [1, 5, 7, 12, 13, 15, 20, 21, 23, 260, 261, 262, 263, 265, 266, 267, 269, 274] {
            assert!(!Cause(c).reported_under_dtf(), "{c}");
        }
        for c in [256, 257, 258, 259, 268, 272, 273] {
            assert!(Cause(c).reported_under_dtf(), "{c}");
        }
    }

    #[test]
    fn record_packs_fields_at_their_bit_positions() {
        let req = Request {
            device_id: DeviceId(0xabcdef),
            pid: Some(ProcessId(0x12345)),
            privileged: true,
            iova: Iova(0xdead_b000),
            access: Access::Write,
            len: 8,
        };
        let r = FaultRecord::for_request(&req, Cause::WRITE_PAGE, 0);
        let w = r.to_words();
        assert_eq!(w[0] & 0xfff, 15);
        assert_eq!((w[0] >> 12) & 0xf_ffff, 0x12345);
        assert_eq!((w[0] >> 32) & 3, 3);
        assert_eq!((w[0] >> 34) & 0x3f, 3);
        assert_eq!(w[0] >> 40, 0xabcdef);
        assert_eq!(FaultRecord::from_words(w), r);
    }

    #[test]
    fn priv_is_zero_without_a_process_id() {
        let req = Request {
            device_id: DeviceId(1),
            pid: None,
            privileged: true,
            iova: Iova(0),
            access: Access::Exec,
            len: 4,
        };
        let r = FaultRecord::for_request(&req, Cause::ALL_DISALLOWED, 0);
        assert!(!r.pv && !r.privileged && r.pid == 0);
        assert_eq!(r.ttyp, Ttyp::UNTRANSLATED_EXEC);
    }
}
