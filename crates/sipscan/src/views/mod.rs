//! Typed views, parsed lazily from the indexed spans.

pub mod addr;
pub mod params;
pub mod scalar;
pub mod uri;
pub mod via;

use crate::{HeaderName, Message, ViewError};
use addr::{Contact, NameAddr};
use scalar::CSeq;
use uri::Uri;
use via::Via;

impl<'a> Message<'a> {
    /// Every Via value, top first.
    pub fn vias(&self) -> impl Iterator<Item = Result<Via<'a>, ViewError>> + '_ {
        self.all(HeaderName::Via).map(|e| via::parse_via(e.bytes))
    }
    /// The top Via value.
    pub fn top_via(&self) -> Option<Result<Via<'a>, ViewError>> {
        self.vias().next()
    }
    /// The From value.
    pub fn from(&self) -> Option<Result<NameAddr<'a>, ViewError>> {
        self.get(HeaderName::From)
            .map(|h| addr::parse_name_addr(crate::lex::trim(h.value())))
    }
    /// The To value.
    pub fn to(&self) -> Option<Result<NameAddr<'a>, ViewError>> {
        self.get(HeaderName::To)
            .map(|h| addr::parse_name_addr(crate::lex::trim(h.value())))
    }
    /// The Call-ID value.
    pub fn call_id(&self) -> Option<&'a [u8]> {
        self.get(HeaderName::CallId).map(|h| h.value())
    }
    /// The CSeq value.
    pub fn cseq(&self) -> Option<Result<CSeq<'a>, ViewError>> {
        self.get(HeaderName::CSeq)
            .map(|h| scalar::parse_cseq(h.value()))
    }
    /// The Max-Forwards value.
    pub fn max_forwards(&self) -> Option<Result<u8, ViewError>> {
        self.get(HeaderName::MaxForwards)
            .map(|h| scalar::parse_max_forwards(h.value()))
    }
    /// The Expires value.
    pub fn expires(&self) -> Option<Result<u32, ViewError>> {
        self.get(HeaderName::Expires)
            .map(|h| scalar::parse_delta_seconds(h.value()))
    }
    /// Every Contact value.
    pub fn contacts(&self) -> impl Iterator<Item = Result<Contact<'a>, ViewError>> + '_ {
        self.all(HeaderName::Contact)
            .map(|e| addr::parse_contact(e.bytes))
    }
    /// Every Route value, top first.
    pub fn routes(&self) -> impl Iterator<Item = Result<NameAddr<'a>, ViewError>> + '_ {
        self.all(HeaderName::Route)
            .map(|e| addr::parse_name_addr(e.bytes))
    }
    /// Every Record-Route value, top first.
    pub fn record_routes(&self) -> impl Iterator<Item = Result<NameAddr<'a>, ViewError>> + '_ {
        self.all(HeaderName::RecordRoute)
            .map(|e| addr::parse_name_addr(e.bytes))
    }
    /// Every Path value, top first (RFC 3327).
    pub fn paths(&self) -> impl Iterator<Item = Result<NameAddr<'a>, ViewError>> + '_ {
        self.all(HeaderName::Path)
            .map(|e| addr::parse_name_addr(e.bytes))
    }
    /// The Request-URI, parsed.
    pub fn request_uri_view(&self) -> Option<Result<Uri<'a>, ViewError>> {
        self.request_uri().map(uri::parse_uri)
    }
}
