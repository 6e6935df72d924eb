//! Zero-copy SIP message scanner for the sipedge edge proxy.
//!
//! One SIMD pass (see [`arch`]) finds the line feeds of a SIP message; the scanner frames
//! the start line, indexes every header line (name span, value span, recognized
//! [`HeaderName`]) and the body, and checks Content-Length. Typed views (Via,
//! name-addr, Contact, CSeq, Max-Forwards, URIs) are parsed lazily from those spans,
//! [`Message::check`] runs the edge's sanity checks, and the [`Editor`] records edits
//! (insert a top Via / Record-Route / Path, pop a Route, decrement Max-Forwards, set
//! params) and writes the new message in one pass, copying untouched bytes.
//! Sans-io: bytes in, bytes out.
//!
//! ```
//! use sipscan::{Editor, HeaderName, Kind, Message, Method};
//!
//! let bytes = b"INVITE sip:bob@example.test SIP/2.0\r\n\
//!     Via: SIP/2.0/WS a.invalid;branch=z9hG4bK1\r\n\
//!     Route: <sip:edge.example.test;lr>, <sip:core.example.test;lr>\r\n\
//!     Max-Forwards: 70\r\nTo: <sip:bob@example.test>\r\n\
//!     From: <sip:alice@example.test>;tag=1\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\n\
//!     Content-Length: 0\r\n\r\n";
//! let msg = Message::parse(bytes).unwrap();
//! assert!(matches!(msg.kind(), Kind::Request { method: Method::Invite, .. }));
//! assert_eq!(msg.top_via().unwrap().unwrap().branch(), Some(&b"z9hG4bK1"[..]));
//! assert_eq!(msg.routes().count(), 2);
//! msg.check().unwrap();
//!
//! let mut ed = Editor::new(&msg);
//! ed.insert_first(HeaderName::Via, b"SIP/2.0/UDP edge.example.test;branch=z9hG4bK2");
//! ed.pop_first(HeaderName::Route);
//! assert_eq!(ed.decrement_max_forwards(), Ok(69));
//! let mut out = Vec::new();
//! ed.write_into(&mut out).unwrap();
//!
//! let edited = Message::parse(&out).unwrap();
//! assert_eq!(edited.vias().count(), 2);
//! assert_eq!(edited.routes().count(), 1);
//! assert_eq!(edited.max_forwards(), Some(Ok(69)));
//! ```

pub mod arch;
mod check;
mod editor;
mod error;
mod lex;
mod lines;
pub mod list;
mod method;
mod name;
mod scan;
mod span;
pub mod views;
mod window;

pub use editor::{EditError, Editor};
pub use error::{ScanError, ViewError, Violation};
pub use lines::count_line_feeds;
pub use method::Method;
pub use name::HeaderName;
pub use scan::{Element, Header, INLINE_HEADERS, Kind, Message};
pub use span::Span;
pub use views::addr::{Contact, NameAddr};
pub use views::params::{Params, unquote};
pub use views::scalar::CSeq;
pub use views::uri::{Host, Scheme, SipUri, Uri};
pub use views::via::Via;
