import NIOCore
import Synchronization

/// Lets a task wait until a connection closes or an instant passes, whichever comes first.
///
/// One close callback per connection, however many requests it carries: each request's
/// watcher parks here instead of adding a callback to the channel's close future.
final class ConnectionClosedSignal: Sendable {
    private struct Waiter {
        var id: Int
        var continuation: CheckedContinuation<Bool, Never>
        var timer: Scheduled<Void>?
    }

    private struct State {
        var closed = false
        var waiter: Waiter?
        var nextID = 0
    }

    private let state = Mutex(State())
    private let eventLoop: any EventLoop

    init(channel: any Channel) {
        eventLoop = channel.eventLoop
        channel.closeFuture.whenComplete { [self] _ in
            let waiter = state.withLock { state in
                state.closed = true
                return state.waiter.take()
            }
            waiter?.timer?.cancel()
            waiter?.continuation.resume(returning: true)
        }
    }

    var isClosed: Bool { state.withLock { $0.closed } }

    /// `true` when the connection closed, `false` when `deadline` passed or the task was cancelled.
    func wait(until deadline: ContinuousClock.Instant) async -> Bool {
        let id = state.withLock { state in
            state.nextID += 1
            return state.nextID
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let closedAlready = state.withLock { state -> Bool in
                    if state.closed || Task.isCancelled { return true }
                    state.waiter = Waiter(id: id, continuation: continuation, timer: nil)
                    return false
                }
                if closedAlready {
                    continuation.resume(returning: isClosed)
                    return
                }
                let delay = ContinuousClock.now.duration(to: deadline)
                let timer = eventLoop.scheduleTask(in: .nanoseconds(max(0, delay.components.seconds * 1_000_000_000 + delay.components.attoseconds / 1_000_000_000))) { [self] in
                    resume(id, closed: false)
                }
                let stillWaiting = state.withLock { state in
                    guard state.waiter?.id == id else { return false }
                    state.waiter?.timer = timer
                    return true
                }
                if !stillWaiting { timer.cancel() }
            }
        } onCancel: {
            resume(id, closed: false)
        }
    }

    private func resume(_ id: Int, closed: Bool) {
        let waiter = state.withLock { state -> Waiter? in
            guard state.waiter?.id == id else { return nil }
            return state.waiter.take()
        }
        waiter?.timer?.cancel()
        waiter?.continuation.resume(returning: closed)
    }
}
