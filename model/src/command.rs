//! Command-queue commands: decoding of the 128-bit entries and the checks that make
//! one illegal (`iommu_in_memory_queues.adoc`, "Command-Queue"; the `NL` and `S`
//! operands of `iommu_extensions.adoc`).

use crate::addr::{DeviceId, ProcessId};
use crate::iotlb::AddrRange;
use crate::regs::Regs;

/// A decoded command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command {
    /// `IOTINVAL.VMA`: first-stage translations.
    IotinvalVma {
        /// `GSCID` when `GV` is 1 (a VM's address spaces); `None` for the host.
        gscid: Option<u16>,
        /// `PSCID` when `PSCV` is 1.
        pscid: Option<u32>,
        /// The IOVA range when `AV` is 1.
        range: Option<AddrRange>,
        /// `NL`: non-leaf entries too.
        nl: bool,
    },
    /// `IOTINVAL.GVMA`: G-stage translations.
    IotinvalGvma {
        /// `GSCID` when `GV` is 1; `None` for every VM.
        gscid: Option<u16>,
        /// The GPA range when `GV` and `AV` are 1.
        range: Option<AddrRange>,
        /// `NL`: non-leaf entries too.
        nl: bool,
    },
    /// `IODIR.INVAL_DDT`: one device's context (`Some`) or all, with their PDT
    /// entries.
    IodirInvalDdt {
        /// `DID` when `DV` is 1.
        did: Option<DeviceId>,
    },
    /// `IODIR.INVAL_PDT`: one process context of one device.
    IodirInvalPdt {
        /// `DID`.
        did: DeviceId,
        /// `PID`.
        pid: ProcessId,
    },
    /// `IOFENCE.C`: completes when every earlier command has; with `AV`, writes
    /// `data` to `addr` on completion.
    IofenceC {
        /// The completion write, if `AV` is 1: address and 32-bit data.
        write: Option<(u64, u32)>,
        /// `WSI`: raise the wired interrupt on completion.
        wsi: bool,
        /// `PR`: order previous reads.
        pr: bool,
        /// `PW`: order previous writes.
        pw: bool,
    },
    /// `ATS.INVAL` or `ATS.PRGR`: messages to a device's ATC or PRI, which this
    /// model, having no devices, completes with no effect.
    Ats {
        /// `func3`.
        func3: u8,
    },
}

/// Why a command cannot be executed (the command queue sets `cqcsr.cmd_ill`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// A reserved encoding or a reserved bit set, or a command the capabilities do
    /// not include.
    #[error("illegal command: {0}")]
    Illegal(&'static str),
    /// The `IOFENCE.C` completion write faulted (the command queue sets
    /// `cqcsr.cmd_mf`).
    #[error("IOFENCE.C completion write to {addr:#x} faulted")]
    MemoryFault {
        /// The address written.
        addr: u64,
    },
}

impl Command {
    /// Makes the `IOFENCE.C` completion write, if this is one that asks for it
    /// (`AV=1`): every earlier command has completed when a command runs to
    /// completion in order, as here. Other commands write nothing.
    pub fn completion_write(&self, mem: &mut (impl crate::memory::Memory + ?Sized)) -> Result<(), CommandError> {
        if let Command::IofenceC { write: Some((addr, data)), .. } = *self {
            mem.write_u32(crate::addr::Spa(addr), data).map_err(|_| CommandError::MemoryFault { addr })?;
        }
        Ok(())
    }
}

const IOTINVAL: u8 = 1;
const IOFENCE: u8 = 2;
const IODIR: u8 = 3;
const ATS: u8 = 4;

#[inline]
fn bit(v: u64, n: u32) -> bool {
    (v >> n) & 1 == 1
}

/// The range an `ADDR` operand names: one 4 KiB page, or with `S` a NAPOT range
/// whose size is given by the position of the first 0 bit ("Address Range
/// Invalidation Extension").
pub fn address_range(addr_field: u64, napot: bool) -> AddrRange {
    let page = addr_field & ((1 << 52) - 1);
    if !napot {
        return AddrRange { lo: page << 12, hi: (page << 12) | 0xfff };
    }
    // First 0 at bit X: 2^(X+1) pages. All ones is UNSPECIFIED: take everything.
    let x = (!page).trailing_zeros();
    if x >= 51 {
        return AddrRange { lo: 0, hi: u64::MAX };
    }
    let pages_log2 = x + 1;
    let base = (page >> pages_log2) << pages_log2;
    AddrRange { lo: base << 12, hi: ((base << 12) | ((1u64 << (pages_log2 + 12)) - 1)) }
}

/// Decodes and checks one command.
pub fn decode(words: [u64; 2], regs: &Regs) -> Result<Command, CommandError> {
    let [w0, w1] = words;
    let opcode = (w0 & 0x7f) as u8;
    let func3 = ((w0 >> 7) & 7) as u8;
    let caps = regs.capabilities;
    match opcode {
        IOTINVAL => {
            if func3 > 1 {
                return Err(CommandError::Illegal("reserved IOTINVAL function"));
            }
            let av = bit(w0, 10);
            let pscv = bit(w0, 32);
            let gv = bit(w0, 33);
            let nl = bit(w0, 34);
            let s = bit(w1, 9);
            // Reserved: bit 11, 43:35, 63:60 of the first doubleword; 8:0 and 63:62
            // of the second; NL and S unless their extensions are implemented.
            let mut rsv0 = (1 << 11) | (0x1ff << 35) | (0xf << 60);
            if !caps.nl() {
                rsv0 |= 1 << 34;
            }
            let mut rsv1 = 0x1ff | (3 << 62);
            if !caps.s() {
                rsv1 |= 1 << 9;
            }
            if w0 & rsv0 != 0 || w1 & rsv1 != 0 {
                return Err(CommandError::Illegal("reserved bit set in IOTINVAL"));
            }
            let gscid = gv.then_some(((w0 >> 44) & 0xffff) as u16);
            let range = av.then(|| address_range(w1 >> 10, s));
            if func3 == 0 {
                let pscid = pscv.then_some(((w0 >> 12) & 0xf_ffff) as u32);
                Ok(Command::IotinvalVma { gscid, pscid, range, nl: nl && av })
            } else {
                if pscv {
                    return Err(CommandError::Illegal("PSCV set in IOTINVAL.GVMA"));
                }
                // With GV=0, AV, S and NL are ignored.
                let range = if gv { range } else { None };
                Ok(Command::IotinvalGvma { gscid, range, nl: nl && gv && av })
            }
        }
        IOFENCE => {
            if func3 != 0 {
                return Err(CommandError::Illegal("reserved IOFENCE function"));
            }
            let wsi = bit(w0, 11);
            if w0 & (0x3_ffff << 14) != 0 || w1 >> 62 != 0 {
                return Err(CommandError::Illegal("reserved bit set in IOFENCE.C"));
            }
            if wsi && !regs.fctl.wsi() {
                return Err(CommandError::Illegal("IOFENCE.C WSI without wired interrupts"));
            }
            let av = bit(w0, 10);
            let write = av.then_some(((w1 & ((1 << 62) - 1)) << 2, (w0 >> 32) as u32));
            Ok(Command::IofenceC { write, wsi, pr: bit(w0, 12), pw: bit(w0, 13) })
        }
        IODIR => {
            if func3 > 1 {
                return Err(CommandError::Illegal("reserved IODIR function"));
            }
            if w0 & ((3 << 10) | (1 << 32) | (0x3f << 34)) != 0 || w1 != 0 {
                return Err(CommandError::Illegal("reserved bit set in IODIR"));
            }
            let dv = bit(w0, 33);
            let did = DeviceId(((w0 >> 40) & 0xff_ffff) as u32);
            let pid = ProcessId(((w0 >> 12) & 0xf_ffff) as u32);
            if func3 == 0 {
                if pid.0 != 0 {
                    return Err(CommandError::Illegal("PID set in IODIR.INVAL_DDT"));
                }
                Ok(Command::IodirInvalDdt { did: dv.then_some(did) })
            } else {
                if !dv {
                    return Err(CommandError::Illegal("IODIR.INVAL_PDT without DV"));
                }
                Ok(Command::IodirInvalPdt { did, pid })
            }
        }
        ATS if caps.ats() && func3 <= 1 => Ok(Command::Ats { func3 }),
        ATS => Err(CommandError::Illegal("ATS command without capabilities.ATS")),
        _ => Err(CommandError::Illegal("reserved or custom opcode")),
    }
}

/// Encoders for the commands, the inverse of [`decode`], for software models
/// (the driver model, tests, the co-simulation's random stimulus).
pub mod encode {
    use super::*;

    fn addr_words(range: Option<(u64, bool)>) -> (u64, u64) {
        match range {
            Some((addr, napot)) => (1 << 10, ((addr >> 12) << 10) | (u64::from(napot) << 9)),
            None => (0, 0),
        }
    }

    /// `IOTINVAL.VMA`; `addr` is the IOVA (or with `napot`, the NAPOT-encoded
    /// range address).
    pub fn iotinval_vma(gscid: Option<u16>, pscid: Option<u32>, addr: Option<(u64, bool)>, nl: bool) -> [u64; 2] {
        let (av, w1) = addr_words(addr);
        let w0 = u64::from(IOTINVAL)
            | av
            | pscid.map_or(0, |p| (u64::from(p) << 12) | (1 << 32))
            | gscid.map_or(0, |g| (u64::from(g) << 44) | (1 << 33))
            | (u64::from(nl) << 34);
        [w0, w1]
    }

    /// `IOTINVAL.GVMA`; `addr` is the GPA.
    pub fn iotinval_gvma(gscid: Option<u16>, addr: Option<(u64, bool)>, nl: bool) -> [u64; 2] {
        let (av, w1) = addr_words(addr);
        let w0 = u64::from(IOTINVAL)
            | (1 << 7)
            | av
            | gscid.map_or(0, |g| (u64::from(g) << 44) | (1 << 33))
            | (u64::from(nl) << 34);
        [w0, w1]
    }

    /// `IODIR.INVAL_DDT`.
    pub fn iodir_inval_ddt(did: Option<DeviceId>) -> [u64; 2] {
        let w0 = u64::from(IODIR) | did.map_or(0, |d| (u64::from(d.0) << 40) | (1 << 33));
        [w0, 0]
    }

    /// `IODIR.INVAL_PDT`.
    pub fn iodir_inval_pdt(did: DeviceId, pid: ProcessId) -> [u64; 2] {
        let w0 = u64::from(IODIR) | (1 << 7) | (u64::from(pid.0) << 12) | (1 << 33) | (u64::from(did.0) << 40);
        [w0, 0]
    }

    /// `IOFENCE.C`, optionally writing `data` at `addr` on completion.
    pub fn iofence_c(write: Option<(u64, u32)>) -> [u64; 2] {
        match write {
            Some((addr, data)) => [u64::from(IOFENCE) | (1 << 10) | (u64::from(data) << 32), addr >> 2],
            None => [u64::from(IOFENCE), 0],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::regs::{Capabilities, Ddtp, Fctl};

    fn regs(caps: u64) -> Regs {
        Regs { capabilities: Capabilities(caps), fctl: Fctl(0), ddtp: Ddtp(4) }
    }

    #[test]
    fn encoders_and_decoder_agree() {
        let r = regs((1 << 42) | (1 << 43));
        let c = decode(encode::iotinval_vma(Some(7), Some(0x12345), Some((0x4000_1000, false)), false), &r).unwrap();
        assert_eq!(
            c,
            Command::IotinvalVma {
                gscid: Some(7),
                pscid: Some(0x12345),
                range: Some(AddrRange { lo: 0x4000_1000, hi: 0x4000_1fff }),
                nl: false
            }
        );
        let c = decode(encode::iotinval_gvma(None, Some((0x1000, false)), true), &r).unwrap();
        assert_eq!(c, Command::IotinvalGvma { gscid: None, range: None, nl: false }, "GV=0 ignores AV and NL");
        assert_eq!(
            decode(encode::iodir_inval_pdt(DeviceId(9), ProcessId(3)), &r).unwrap(),
            Command::IodirInvalPdt { did: DeviceId(9), pid: ProcessId(3) }
        );
        assert_eq!(decode(encode::iodir_inval_ddt(None), &r).unwrap(), Command::IodirInvalDdt { did: None });
        assert_eq!(
            decode(encode::iofence_c(Some((0x8000_0004, 0xdead))), &r).unwrap(),
            Command::IofenceC { write: Some((0x8000_0004, 0xdead)), wsi: false, pr: false, pw: false }
        );
    }

    #[test]
    fn napot_ranges() {
        // ADDR = ...0 at bit 0: 8 KiB.
        assert_eq!(address_range(0x4000, true), AddrRange { lo: 0x400_0000, hi: 0x400_1fff });
        // First zero at bit 8 (bits 7:0 set): 2^9 pages = 2 MiB.
        let a = address_range((0x4000_0000 >> 12) | 0xff, true);
        assert_eq!(a, AddrRange { lo: 0x4000_0000, hi: 0x401f_ffff });
        // MSB 0, all others 1: the whole address space.
        assert_eq!(address_range((1 << 51) - 1, true), AddrRange { lo: 0, hi: u64::MAX });
        assert_eq!(address_range(0x12345, false), AddrRange { lo: 0x1234_5000, hi: 0x1234_5fff });
    }

    #[test]
    fn illegal_commands() {
        let r = regs(0);
        assert!(decode([0, 0], &r).is_err(), "opcode 0 is reserved");
        assert!(decode([5, 0], &r).is_err());
        assert!(decode([64, 0], &r).is_err(), "custom opcodes are not implemented");
        assert!(decode([1 | (2 << 7), 0], &r).is_err(), "IOTINVAL func3 2");
        assert!(decode([1 | (1 << 7) | (1 << 32), 0], &r).is_err(), "PSCV in GVMA");
        assert!(decode([1 | (1 << 34), 0], &r).is_err(), "NL without capabilities.NL");
        assert!(decode([1, 1 << 9], &r).is_err(), "S without capabilities.S");
        assert!(decode([3 | (1 << 7), 0], &r).is_err(), "INVAL_PDT without DV");
        assert!(decode([3 | (5 << 12), 0], &r).is_err(), "PID in INVAL_DDT");
        assert!(decode([2 | (1 << 11), 0], &r).is_err(), "WSI with fctl.WSI clear");
        assert!(decode([4, 0], &r).is_err(), "ATS without capabilities.ATS");
        assert!(decode([4, 0], &regs(1 << 25)).is_ok());
    }
}
