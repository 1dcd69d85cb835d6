//! New connections: connected, handshaken and their task spawned within
//! the connect timeout, in the request's task or (racing a connection
//! released meanwhile) in a task of their own.

use std::sync::atomic::AtomicUsize;
use std::sync::Arc;

use httpswap_core::{Error, ErrorKind, Events, Timeouts};
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};

use httpswap_adapter::hyper_limits::{h2_header_list_size, hyper_max_headers};
use httpswap_adapter::SettingsSniffer;

use crate::body::ReqBody;
use crate::connect::{connect, ConnectOptions, Target};
use crate::h1::{ConnEnd, H1Conn, H1Sender, H2Handle, H2Sender};
use crate::io::{read_ready, TimedIo, WriteTimeout};
use crate::{H2Pending, Inner, Lease, PendingConnect, Slot};

/// The largest HTTP/1 head hyper reads by default (its read buffer, about
/// 400 KiB), less room for the status line.
const H1_DEFAULT_HEAD_ROOM: usize = 400 * 1024;
/// Room in hyper's read buffer beside a head of the configured size: the
/// status line, and what the size does not count.
const H1_HEAD_SLACK: usize = 16 * 1024;

type Io = TokioIo<TimedIo>;
type H2Io = TokioIo<SettingsSniffer<TimedIo>>;

/// A connection after its handshake, before its task is spawned.
enum Established {
    H1(H1Sender, Box<http1::Connection<Io, ReqBody>>),
    H2(
        H2Sender,
        Box<http2::Connection<H2Io, ReqBody, TokioExecutor>>,
        Arc<AtomicUsize>,
    ),
}

/// A connection being made, and its slot. Fields drop in declaration
/// order: the half-made socket closes before the slot is given back.
struct HalfMade<F> {
    fut: std::pin::Pin<Box<F>>,
    slot: Option<Slot>,
}

impl Inner {
    /// Starts `new_conn` as a task of its own, so that the request can take
    /// another connection if one frees up first; a connection nobody waits
    /// for any more goes to the pool.
    /// `pending`: the mark of a connect that may turn out HTTP/2, which
    /// other requests to the origin wait for; it ends with the connect.
    pub(crate) fn connect_in_background(
        self: &Arc<Self>,
        target: &Target,
        slot: Slot,
        pending: Option<H2Pending>,
        timeouts: &Timeouts,
        events: Option<&Arc<dyn Events>>,
    ) -> PendingConnect {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let inner = self.clone();
        let target = target.clone();
        let timeouts = *timeouts;
        let events = events.cloned();
        tokio::spawn(async move {
            let made = inner
                .new_conn(&target, slot, &timeouts, events.as_ref())
                .await;
            if let (Some(p), Ok(Lease::H1(_))) = (&pending, &made) {
                p.got_http1();
            }
            drop(pending);
            if let Err(Ok(Lease::H1(lease))) = tx.send(made) {
                lease.release();
            }
        });
        rx
    }

    /// Whether a connection made to `target` may turn out HTTP/2: HTTP/2
    /// offered by ALPN on `https://`, or spoken by prior knowledge on a
    /// direct `http://` connection.
    pub(crate) fn may_be_http2(&self, target: &Target) -> bool {
        if target.https {
            self.config.http2
        } else {
            self.config.http2_prior_knowledge && target.proxy.is_none()
        }
    }

    /// Connects, handshakes and spawns the connection task, all within the
    /// connect timeout.
    pub(crate) async fn new_conn(
        &self,
        target: &Target,
        slot: Slot,
        timeouts: &Timeouts,
        events: Option<&Arc<dyn Events>>,
    ) -> Result<Lease, Error> {
        let write_timeout = WriteTimeout::default();
        write_timeout.set(timeouts.write);
        let opts = ConnectOptions {
            tls: &self.tls,
            http2: self.config.http2,
            http2_prior_knowledge: self.config.http2_prior_knowledge && target.proxy.is_none(),
            local_address: self.config.local_address,
            resolver: &self.resolver,
            unix_socket: self.config.unix_socket.as_deref(),
        };
        let id = self.pool.next_id();
        let wt = write_timeout.clone();
        let establish = async move {
            let connected = connect(target, &opts).await?;
            let addrs = crate::io::addrs(&connected.stream);
            let io = TimedIo::new(connected.stream, read_ready, wt);
            let handshake_err = |e: hyper::Error| {
                Error::new(
                    ErrorKind::Connect,
                    format!("handshake with {} failed: {e}", target.origin()),
                )
                .with_source(e)
            };
            // hyper's own head limits no lower than the configured ones,
            // which `respond` checks the same way on every backend
            let head = &self.config.response_head;
            if connected.http2 {
                let max_streams = Arc::new(AtomicUsize::new(usize::MAX));
                let io = TokioIo::new(SettingsSniffer::new(io, max_streams.clone()));
                let (sender, conn) = http2::Builder::new(TokioExecutor::new())
                    .timer(TokioTimer::new())
                    .max_header_list_size(h2_header_list_size(head))
                    .handshake(io)
                    .await
                    .map_err(handshake_err)?;
                Ok::<_, Error>((Established::H2(sender, Box::new(conn), max_streams), addrs))
            } else {
                let mut builder = http1::Builder::new();
                if let Some(n) = hyper_max_headers(head) {
                    builder.max_headers(n);
                }
                if head.max_size > H1_DEFAULT_HEAD_ROOM {
                    builder.max_buf_size(head.max_size + H1_HEAD_SLACK);
                }
                let (sender, conn) = builder
                    .handshake(TokioIo::new(io))
                    .await
                    .map_err(handshake_err)?;
                Ok((Established::H1(sender, Box::new(conn)), addrs))
            }
        };
        // If this future is dropped half way (the caller gave up), the
        // socket must close before the slot is given back, or another
        // request could open one socket too many for a moment.
        let mut half_made = HalfMade {
            fut: Box::pin(establish),
            slot: Some(slot),
        };
        let established = match timeouts.connect {
            Some(limit) => tokio::time::timeout(limit, &mut half_made.fut)
                .await
                .map_err(|_| Error::timeout(ErrorKind::ConnectTimeout, limit, target.origin()))??,
            None => (&mut half_made.fut).await?,
        };
        let slot = half_made.slot.take();
        let end = ConnEnd::default();
        let (established, addrs) = established;
        let established = match established {
            Established::H1(sender, conn) => {
                let ended = end.clone();
                tokio::spawn(async move {
                    let _ = conn.await;
                    ended.set();
                    drop(slot);
                });
                Ok(sender)
            }
            Established::H2(sender, conn, max_streams) => {
                tokio::spawn(async move {
                    let _ = conn.await;
                    drop(slot);
                });
                Err((sender, max_streams))
            }
        };
        Ok(match established {
            Ok(sender) => Lease::H1(self.pool.lease_new_h1(
                H1Conn::new(
                    id,
                    target.clone(),
                    sender,
                    write_timeout,
                    end,
                    self.config.limits.max_lifetime,
                    addrs,
                ),
                events,
            )),
            Err((sender, max_streams)) => Lease::H2(Box::new(self.pool.lease_new_h2(
                target,
                id,
                H2Handle {
                    sender,
                    write_timeout,
                    max_streams,
                    poisoned: Arc::default(),
                    addrs,
                },
                events,
            ))),
        })
    }
}
