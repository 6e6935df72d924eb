//! Request/response sanity checks the edge runs before forwarding (RFC 3261 §16.3, §8.2).

use crate::views::{addr, uri::Uri};
use crate::{HeaderName, Kind, Message, Violation};

impl<'a> Message<'a> {
    /// The first reason this message must not be forwarded, in a fixed order:
    /// Via, From, To, Call-ID, CSeq (and its method), Max-Forwards, Contact,
    /// Route/Record-Route/Path, Expires, Request-URI.
    ///
    /// Fields the edge does not interpret (Date, Warning, Retry-After, unknown fields)
    /// are forwarded untouched and never checked.
    pub fn check(&self) -> Result<(), Violation> {
        let is_request = matches!(self.kind(), Kind::Request { .. });
        let mut any_via = false;
        for v in self.vias() {
            v.map_err(|e| Violation::Invalid(HeaderName::Via, e))?;
            any_via = true;
        }
        if !any_via {
            return Err(Violation::Missing(HeaderName::Via));
        }
        for (name, view) in [(HeaderName::From, self.from()), (HeaderName::To, self.to())] {
            view.ok_or(Violation::Missing(name))?
                .map_err(|e| Violation::Invalid(name, e))?;
        }
        match self.call_id() {
            Some(v) if !v.is_empty() => {}
            Some(_) => {
                return Err(Violation::Invalid(
                    HeaderName::CallId,
                    crate::ViewError::Empty,
                ));
            }
            None => return Err(Violation::Missing(HeaderName::CallId)),
        }
        let cseq = self
            .cseq()
            .ok_or(Violation::Missing(HeaderName::CSeq))?
            .map_err(|e| Violation::Invalid(HeaderName::CSeq, e))?;
        if self.method().is_some_and(|m| m != cseq.method) {
            return Err(Violation::CSeqMethodMismatch);
        }
        if !is_request {
            return Ok(());
        }
        if let Some(mf) = self.max_forwards() {
            mf.map_err(|e| Violation::Invalid(HeaderName::MaxForwards, e))?;
        }
        for c in self.contacts() {
            let c = c.map_err(|e| Violation::Invalid(HeaderName::Contact, e))?;
            if let addr::Contact::Addr(a) = c
                && let Some(Err(e)) = a.expires()
            {
                return Err(Violation::Invalid(HeaderName::Contact, e));
            }
        }
        if let Some(e) = first_err(self.routes()) {
            return Err(Violation::Invalid(HeaderName::Route, e));
        }
        if let Some(e) = first_err(self.record_routes()) {
            return Err(Violation::Invalid(HeaderName::RecordRoute, e));
        }
        if let Some(e) = first_err(self.paths()) {
            return Err(Violation::Invalid(HeaderName::Path, e));
        }
        if let Some(Err(e)) = self.expires() {
            return Err(Violation::Invalid(HeaderName::Expires, e));
        }
        match self.request_uri_view() {
            Some(Err(e)) => Err(Violation::RequestUri(e)),
            Some(Ok(Uri::Sip(u))) if u.headers.is_some() => Err(Violation::RequestUriHeaders),
            _ => Ok(()),
        }
    }
}

fn first_err<T>(
    mut it: impl Iterator<Item = Result<T, crate::ViewError>>,
) -> Option<crate::ViewError> {
    it.find_map(Result::err)
}
