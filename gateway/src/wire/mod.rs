//! The JSON wire formats (`docs/design.md` §5): decoding `orders` messages into
//! journaled inputs, and encoding output messages for each topic.
//!
//! - [`Decoder`] reads both accepted input forms, canonical and the order
//!   router's ([`PriceFormat`], [`PriceDecimals`]), and turns anything it
//!   cannot use into a `Malformed` input that names the field at fault.
//! - [`encode_message`] writes an output message as its topic carries it;
//!   [`encode_order`] writes a command in the canonical input form.
//!
//! Nothing here reads a clock or does I/O, and the same bytes always decode
//! to the same input and encode from the same message.

mod decode;
mod encode;
mod number;

pub use decode::{Decoder, PriceDecimals, PriceFormat};
pub(crate) use decode::{MAX_MESSAGE_BYTES, MAX_PRICE_DECIMALS};
pub(crate) use encode::message_symbol;
pub use encode::{encode_admin, encode_message, encode_message_of, encode_order};
