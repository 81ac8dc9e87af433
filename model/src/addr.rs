//! Address and identifier newtypes.
//!
//! The IOMMU works in three address spaces (the device's IOVA, the guest-physical
//! GPA and the supervisor-physical SPA) and two identifier spaces (device and
//! process IDs). Each has its own type so that one cannot be passed for another.

use std::fmt;

macro_rules! address_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
        pub struct $name(pub u64);

        impl $name {
            /// The raw 64-bit value.
            #[inline]
            pub const fn raw(self) -> u64 {
                self.0
            }
            /// The 4 KiB page number (address bits 63:12).
            #[inline]
            pub const fn page(self) -> u64 {
                self.0 >> 12
            }
            /// The offset within the 4 KiB page (address bits 11:0).
            #[inline]
            pub const fn page_offset(self) -> u64 {
                self.0 & 0xfff
            }
            /// The address `bytes` further on, or `None` if that wraps.
            #[inline]
            pub fn checked_add(self, bytes: u64) -> Option<Self> {
                self.0.checked_add(bytes).map(Self)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({:#x})"), self.0)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{:#x}", self.0)
            }
        }
    };
}

address_type!(
    /// An I/O virtual address, as a device puts it on the bus.
    Iova
);
address_type!(
    /// A guest-physical address: the output of the first stage, the input of the
    /// G-stage.
    Gpa
);
address_type!(
    /// A supervisor-physical address: where memory really is.
    Spa
);

/// A device ID (`device_id`): up to 24 bits, the PCIe requester ID
/// (bus << 8 | devfn) with an optional segment above it.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Debug)]
pub struct DeviceId(pub u32);

impl DeviceId {
    /// Device IDs are at most 24 bits wide (`iommu_data_structures.adoc`, DDI partitioning).
    pub const BITS: u32 = 24;

    /// Builds a device ID, or `None` when it is wider than 24 bits.
    pub fn new(raw: u32) -> Option<Self> {
        (raw < (1 << Self::BITS)).then_some(Self(raw))
    }
}

impl fmt::Display for DeviceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A process ID (`process_id`, a PCIe PASID): up to 20 bits.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Debug)]
pub struct ProcessId(pub u32);

impl ProcessId {
    /// Process IDs are at most 20 bits wide.
    pub const BITS: u32 = 20;

    /// Builds a process ID, or `None` when it is wider than 20 bits.
    pub fn new(raw: u32) -> Option<Self> {
        (raw < (1 << Self::BITS)).then_some(Self(raw))
    }
}

impl fmt::Display for ProcessId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_reject_values_wider_than_the_specification() {
        assert!(DeviceId::new(0xff_ffff).is_some());
        assert!(DeviceId::new(0x100_0000).is_none());
        assert!(ProcessId::new(0xf_ffff).is_some());
        assert!(ProcessId::new(0x10_0000).is_none());
    }

    #[test]
    fn page_split() {
        let a = Spa(0x8000_1234);
        assert_eq!(a.page(), 0x80001);
        assert_eq!(a.page_offset(), 0x234);
        assert_eq!(Iova(u64::MAX).checked_add(1), None);
    }
}
