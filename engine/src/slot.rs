//! Arena slots: orders and price levels live in slabs and refer to each
//! other by `u32` slot number, not by pointer, so a copy of the engine is a
//! plain memory copy and a snapshot never depends on addresses.
//!
//! This is the lowest module of the book-keeping: it imports nothing.

/// The "no slot" marker in intrusive links and empty lists.
pub(crate) const NIL: u32 = u32::MAX;
