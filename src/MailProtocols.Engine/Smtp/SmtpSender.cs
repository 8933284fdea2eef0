using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Threading;
using MimeKit;

namespace MailProtocols.Engine.Smtp;

/// <summary>What became of one submitted message: its result, or the error that ended it.</summary>
public sealed class SmtpOutcome
{
    internal SmtpOutcome(object? tag, SmtpSendResult? result, MailOperationException? error)
    {
        Tag = tag;
        Result = result;
        Error = error;
    }

    /// <summary>What the caller gave with the message (e.g. its input row).</summary>
    public object? Tag { get; }

    public SmtpSendResult? Result { get; }

    public MailOperationException? Error { get; }
}

/// <summary>
/// Sends messages over one SMTP connection, opened on first use and reopened when the server
/// closes it between messages, with as few waits as the server allows: with PIPELINING and
/// CHUNKING each message is one write (MAIL, RCPT, BDAT LAST and the data) and the replies of
/// earlier messages are read while later ones go out; with PIPELINING alone, one wait per message
/// (for the 354 that DATA must get before the data, RFC 2920); without it, one command at a
/// time. Outcomes come back in the order the messages were submitted.
/// Transient failures are retried with exponential backoff, but only while the end of the message
/// data has not gone out: after that, a lost or late reply means "delivery unknown", reported for
/// that message and never retried, so no message is ever sent twice; the next message goes on a
/// new connection.
/// </summary>
public sealed class SmtpSender : IDisposable
{
    /// <summary>The relay port: the default without -Port, as it was for Send-MailMessage
    /// (submission servers listen on 587 as well).</summary>
    public const int RelayPort = 25;
    public const int ImplicitTlsPort = 465;

    /// <summary>The longest wait between two attempts, unless the retry interval itself is longer.</summary>
    public static readonly TimeSpan MaximumRetryWait = TimeSpan.FromSeconds(60);

    // Messages whose replies may be outstanding at once: their replies (a few lines each) must
    // fit in the socket buffers, or the server would stop reading while the client still writes.
    private const int Window = 32;

    // Replies outstanding at once, whatever the messages: a message with thousands of
    // recipients must not write them all before reading (RFC 2920 3.2: keep within the window).
    private const int MaxRepliesOutstanding = 100;

    // Made once and only read: cloning FormatOptions for each message costs as much as writing it.
    private static readonly FormatOptions AsciiFormat = WireFormat(international: false);
    private static readonly FormatOptions InternationalFormat = WireFormat(international: true);

    private readonly ConnectionSettings _settings;
    private readonly Action<string> _verbose;
    private readonly CancellationToken _token;
    private readonly ProtocolTap _tap;
    private readonly SmtpWire _wire;
    private readonly Connector _connector;
    private readonly List<Transaction> _order = new(); // submitted, outcome not yet handed out
    private readonly Queue<Expected> _expected = new(); // replies outstanding, in the order they will come
    private readonly List<Transaction> _retries = new();
    private bool _connected;
    private bool _needsReset; // a transaction failed on this connection: RSET before the next MAIL
    private MailOperationException? _sessionFailure;

    // The Send-MailMessage rule (ConnectionSettings.CurrentLogonWhenRefused).
    private bool _currentLogonWanted; // the server refused mail for lack of authentication: sign in on this and every new connection
    private bool _signedInAutomatically;
    private MailOperationException? _currentLogonFailure; // why the current logon cannot sign in here

    public SmtpSender(ConnectionSettings settings, Action<string>? verbose, CancellationToken token)
    {
        if (settings.Port == 0)
        {
            throw new ArgumentException("The settings name no port: the caller chooses the default (RelayPort or ImplicitTlsPort).", nameof(settings));
        }

        _settings = settings;
        _verbose = verbose ?? (_ => { });
        _token = token;
        _tap = new ProtocolTap(settings.TranscriptPath, settings.TranscriptIncludesMessageData);
        _wire = new SmtpWire(settings, _tap, Connector.Validator(settings));
        _connector = new Connector(_wire, settings, _tap, ImplicitTlsPort);
    }

    private enum Step
    {
        Reset,
        Mail,
        Rcpt,
        Data,
        Final,
    }

    /// <summary>The wait before retry number <paramref name="attempt"/> (1 = the first): the
    /// interval, doubled for each retry before it, but never longer than
    /// <see cref="MaximumRetryWait"/> or the interval itself, whichever is longer.</summary>
    public static TimeSpan RetryDelay(TimeSpan interval, int attempt)
    {
        var cap = interval > MaximumRetryWait ? interval : MaximumRetryWait;
        var wait = interval;
        for (var i = 1; i < attempt && wait < cap; i++)
        {
            wait += wait;
        }

        return wait < cap ? wait : cap;
    }

    /// <summary>Retries after the first attempt, for transient (4xx) replies and connections
    /// lost before the end of the data.</summary>
    public int MaximumRetryCount { get; set; } = 3;

    /// <summary>Wait before the first retry; each further retry waits twice as long, up to
    /// <see cref="MaximumRetryWait"/> (see <see cref="RetryDelay"/>).</summary>
    public TimeSpan RetryInterval { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>True once a message failed in a way that ends the session (e.g. a timeout, the
    /// daily quota): the caller should take no more work, and a message submitted after it is
    /// not sent (its outcome is a NotSent error).</summary>
    public bool SessionFailed => _sessionFailure != null;

    /// <summary>Spaces every attempt on the wire, retries and messages sent again on a new
    /// connection included; null: no pacing.</summary>
    public Pacer? Pacer { get; set; }

    /// <summary>Called with the time left before the next attempt's turn, about once a second
    /// while the <see cref="Pacer"/> waits.</summary>
    public Action<TimeSpan>? PacingReport { get; set; }

    /// <summary>After a pacing wait at least this long, NOOP checks the idle connection before
    /// the message goes: a server or a NAT that dropped it silently would otherwise take the
    /// whole message into a dead connection, and leave its delivery unknown.</summary>
    internal TimeSpan ProbeAfter { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>True while messages are submitted whose outcome has not been handed out.</summary>
    public bool HasPending => _order.Count > 0;

    /// <summary>Checks a message (addresses, files, headers) without connecting and says what
    /// would be sent. Throws the same errors <see cref="Send"/> would before connecting.</summary>
    public static string Describe(OutgoingMessage message)
    {
        using var prepared = Prepare(message);
        return prepared.Description;
    }

    /// <summary>Composes and checks a message without connecting; throws what is wrong with it.</summary>
    public static PreparedMessage Prepare(OutgoingMessage message) => new(message, MessageComposer.Compose(message));

    /// <summary>Opens the connection (TLS, authentication) if it is not open.</summary>
    public void Connect()
    {
        if (_connected)
        {
            return;
        }

        _token.ThrowIfCancellationRequested();
        _verbose($"Connecting to {_settings.Endpoint} ({_connector.SocketOptions}).");
        try
        {
            _connector.Connect(_token, MaximumRetryCount, RetryInterval, _verbose);
            _verbose($"Connected to {_settings.Endpoint}; TLS: {_wire.TlsProtocol}; extensions: {_connector.Extensions}.");
            _connector.Authenticate(_token);
        }
        catch
        {
            // Half set up (e.g. authentication refused): nothing may go on this connection.
            _wire.Close();
            throw;
        }

        _connected = true;
        _needsReset = false;
        if (_connector.IsAuthenticated)
        {
            _verbose($"Authenticated as '{_settings.Credential?.UserName ?? CurrentLogon.Description}' ({_connector.AuthenticationMechanism}).");
            if (_connector.AuthenticationNote is { } note)
            {
                _verbose(note);
            }
        }
    }

    /// <summary>Sends one message and waits for its outcome. Recipients the server refuses are
    /// listed in the result's Rejected; if it refuses them all, or the message itself, this throws.</summary>
    public SmtpSendResult Send(OutgoingMessage message)
    {
        var outcomes = Submit(message, null).Concat(Drain()).ToList();
        var last = outcomes[outcomes.Count - 1];
        return last.Result ?? throw last.Error!;
    }

    /// <summary>Sends a message without waiting for its outcome where the server allows that;
    /// returns the outcomes known so far, in the order the messages were submitted. Errors about
    /// the message itself (an address, a file) are thrown before anything is sent.</summary>
    public IReadOnlyList<SmtpOutcome> Submit(OutgoingMessage message, object? tag) => Submit(Prepare(message), tag);

    /// <inheritdoc cref="Submit(OutgoingMessage, object?)"/>
    public IReadOnlyList<SmtpOutcome> Submit(PreparedMessage message, object? tag)
    {
        if (message.Taken)
        {
            throw new InvalidOperationException("The message was submitted already.");
        }

        message.Taken = true;

        // Replies that came while the caller was away are read first, so that a connection the
        // server closed since (it was idle) is seen as such before anything is written to it.
        while (_expected.Count > 0 && _wire.ReplyWaiting)
        {
            ReadNext();
        }

        var t = new Transaction(message.Input, message.Composed, tag);
        _order.Add(t);
        Issue(t);
        Pump(Window);
        return TakeOutcomes();
    }

    /// <summary>Waits for every outstanding reply; returns the remaining outcomes in order.</summary>
    public IReadOnlyList<SmtpOutcome> Drain()
    {
        Pump(0);
        return TakeOutcomes();
    }

    /// <summary>Ends the session politely with QUIT, after every outstanding reply.</summary>
    public void Quit()
    {
        if (!_connected)
        {
            return;
        }

        try
        {
            _wire.Send("QUIT", -1, _token);
            _wire.ReadReply(_token);
        }
        catch (Exception ex) when (!_token.IsCancellationRequested && IsConnectionLoss(ex))
        {
            // Every message already has its own final reply; a QUIT that goes unanswered changes nothing.
            _verbose($"The server did not answer QUIT cleanly: {ex.Message}");
        }
        catch (Exception) when (_token.IsCancellationRequested)
        {
            throw new OperationCanceledException(_token);
        }
        finally
        {
            Disconnect();
        }
    }

    public void Dispose()
    {
        foreach (var t in _order)
        {
            t.Dispose();
        }

        _wire.Dispose();
        _tap.Dispose();
    }

    private IReadOnlyList<SmtpOutcome> TakeOutcomes()
    {
        var done = 0;
        while (done < _order.Count && _order[done].Outcome != null)
        {
            done++;
        }

        if (done == 0)
        {
            return Array.Empty<SmtpOutcome>();
        }

        var outcomes = new SmtpOutcome[done];
        for (var i = 0; i < done; i++)
        {
            outcomes[i] = _order[i].Outcome!;
        }

        _order.RemoveRange(0, done);
        return outcomes;
    }

    /// <summary>Reads replies until at most <paramref name="window"/> messages (0: none) wait for
    /// theirs, sending again the messages that are due for a retry once nothing else is outstanding.</summary>
    private void Pump(int window)
    {
        while (true)
        {
            // Replies that have come are read at once, so that outcomes come out soon after
            // their messages even when rows arrive slowly.
            while (_expected.Count > 0 && (window == 0 || Outstanding() > window || _retries.Count > 0 || _wire.ReplyWaiting))
            {
                ReadNext();
            }

            if (_retries.Count == 0)
            {
                return;
            }

            var retry = _retries[0];
            _retries.RemoveAt(0);
            if (retry.Requeued || retry.AwaitsSignIn)
            {
                Issue(retry);
                continue;
            }

            var wait = RetryDelay(RetryInterval, retry.Attempt);
            _verbose($"Retrying in {wait.TotalSeconds:0.###} s ({retry.Attempt} of {MaximumRetryCount} retries).");
            _tap.Note($"retry {retry.Attempt} in {wait.TotalSeconds:0.###} s");
            if (_token.WaitHandle.WaitOne(wait))
            {
                throw new OperationCanceledException(_token);
            }

            Issue(retry);
        }
    }

    private int Outstanding()
    {
        var count = 0;
        foreach (var t in _order)
        {
            count += t.InFlight ? 1 : 0;
        }

        return count;
    }

    /// <summary>Starts an attempt of the transaction: connects if needed, and writes what the
    /// server allows before its next reply is needed.</summary>
    private void Issue(Transaction t)
    {
        t.BeginAttempt();
        var waited = TimeSpan.Zero;
        if (Pacer != null && !SessionFailed)
        {
            waited = Pacer.WaitTurn(_token, PacingReport);

            // What the server said during the wait decides before anything more is written: a
            // daily quota or a timeout found now means this message does not go.
            while (_expected.Count > 0 && _wire.ReplyWaiting)
            {
                ReadNext();
            }
        }

        if (SessionFailed)
        {
            Fail(t, NotSent(t));
            return;
        }

        t.InFlight = true;
        try
        {
            if (waited >= ProbeAfter && _connected && _expected.Count == 0 && !_wire.ClosedOrSpoke)
            {
                Probe();
            }

            if (_connected && _expected.Count == 0 && _wire.ClosedOrSpoke)
            {
                // Nothing is outstanding, yet the server closed the connection or said something
                // (e.g. 421 after its idle timeout): a new connection, not a failed message.
                _verbose($"The server closed the idle connection (or sent an unrequested reply); connecting again.");
                _tap.Note("the server closed the idle connection");
                Disconnect();
            }

            Connect();
            if (_currentLogonWanted && !_connector.IsAuthenticated && !SignInAsCurrentLogon(t))
            {
                return;
            }

            var extensions = _connector.Extensions;
            CheckInternational(t.Composed, extensions);
            try
            {
                t.Data ??= Serialize(t.Composed, extensions);
            }
            catch (IOException ex)
            {
                // Reading an attachment, not the connection: nothing was sent.
                throw new MailOperationException("AttachmentNotReadable", MailErrorKind.InvalidArgument, t.Composed.Mime.MessageId ?? "",
                    $"An attachment of the message {t.Composed.Mime.MessageId} could not be read: {ex.Message} Nothing was sent.", ex);
            }
            CheckSize(t, extensions);
            _verbose($"Sending {t.Composed.Mime.MessageId} to {t.Pending.Count} recipient(s), attempt {t.Attempt}.");
            var international = extensions.SmtpUtf8 && IsInternational(t.Composed);
            var pipelining = extensions.Pipelining;
            var chunking = extensions.Chunking;

            // Room for this message's replies (RSET, MAIL, each RCPT, BDAT or DATA) is made
            // before its first command is queued: a read flushes what is queued, and a read
            // between its commands would split the message into several writes (TLS records).
            var replies = 3 + t.Pending.Count;
            while (pipelining && t.InFlight && _expected.Count > 0 && _expected.Count + replies > MaxRepliesOutstanding)
            {
                ReadNext();
            }

            if (!t.InFlight)
            {
                return;
            }

            if (SessionFailed)
            {
                // A reply read just now ended the session.
                t.InFlight = false;
                Fail(t, NotSent(t));
                return;
            }

            // RFC 3030 does not say that a refused BDAT LAST ends its transaction, and a server
            // may keep it open (as Postfix does after a refused DATA): behind a BDAT LAST whose
            // reply is still to come, RSET goes first, so that this MAIL cannot get 503 and this
            // message's recipients cannot join that transaction. It costs a reply line, not a wait.
            var behindBdat = chunking && FinalReplyOutstanding();
            Pacer?.Start();
            if (_needsReset || behindBdat)
            {
                _needsReset = false;
                _wire.Send("RSET", -1, _token);
                Expect(t, Step.Reset, null, pipelining);
                if (!t.InFlight)
                {
                    return;
                }
            }

            _wire.Send(MailCommand(t, extensions, international), -1, _token);
            Expect(t, Step.Mail, null, pipelining);
            if (!t.InFlight)
            {
                return;
            }

            if (!pipelining && t.MailReply != null)
            {
                Conclude(t);
                return;
            }

            foreach (var recipient in t.Pending)
            {
                _wire.Send(RcptCommand(recipient, t.Input.DeliveryNotification, extensions, international), -1, _token);
                Expect(t, Step.Rcpt, recipient, pipelining);
                if (!t.InFlight)
                {
                    return;
                }
            }

            if (!pipelining && !t.MayDeliver)
            {
                // One command at a time: no recipient was accepted, so no data goes.
                Conclude(t);
                return;
            }

            if (chunking)
            {
                // RFC 3030: BDAT, unlike DATA, may be followed by more commands without a wait,
                // and its data goes at once; the server discards it if the transaction failed.
                _wire.Send($"BDAT {t.Data.Length} LAST", -1, _token);

                // The whole message is the last chunk: from its first byte on (which may go in
                // a write of its own), the server may end up with all of it.
                t.EndQueuedAt = _wire.WritesBegun;
                _wire.SendData(t.Data, dotStuffed: false, _token);
                _expected.Enqueue(new Expected(t, Step.Final, null));
                _wire.Flush();
                if (!pipelining)
                {
                    ReadNext();
                }

                return;
            }

            // RFC 2920: DATA ends a group; the data may go only after its 354.
            _wire.Send("DATA", -1, _token);
            _expected.Enqueue(new Expected(t, Step.Data, null));
            _wire.Flush();
            while (t.InFlight && !t.DataGo)
            {
                ReadNext();
            }

            if (t.InFlight && t.DataGo)
            {
                _wire.SendData(t.Data, dotStuffed: true, _token);
                t.EndQueuedAt = _wire.WritesBegun;
                _expected.Enqueue(new Expected(t, Step.Final, null));

                // Out now, not with the next message: the next row may be long in coming.
                _wire.Flush();
                if (!pipelining)
                {
                    ReadNext();
                }
            }
        }
        catch (MailOperationException ex)
        {
            // Connecting failed, or the message cannot go to this server: nothing of it was sent.
            t.InFlight = false;
            Fail(t, ex);
            if (!_connected)
            {
                // The messages waiting to go again on the new connection fail with it, rather
                // than each waiting for a connection of its own.
                foreach (var waiting in _retries)
                {
                    Fail(waiting, ex);
                }

                _retries.Clear();
            }
        }
        catch (MessageSourceException ex) when (!_token.IsCancellationRequested)
        {
            t.InFlight = false;
            Fail(t, new MailOperationException("MessageChanged", MailErrorKind.InvalidOperation, t.Composed.Mime.MessageId ?? "",
                $"{ex.Message} The message {t.Composed.Mime.MessageId} was not delivered: the connection was dropped before " +
                "its data was complete, so the server discards it.", ex));
            DropBehind(t);
        }
        catch (Exception ex) when (!_token.IsCancellationRequested && IsConnectionLoss(ex))
        {
            ConnectionLost(ex, _expected.Count > 0 ? _expected.Peek().Transaction : t);
        }
        catch (Exception) when (_token.IsCancellationRequested)
        {
            throw new OperationCanceledException(_token);
        }
    }

    /// <summary>The sign-in of the Send-MailMessage rule, between transactions: the replies still
    /// outstanding are read first and an open transaction is reset (RFC 4954 allows no AUTH in a
    /// transaction). Returns whether <paramref name="t"/> goes on now. When the current logon cannot
    /// sign in, every message that waited for it gets its refusal with the reason; a connection on
    /// which the exchange had begun is dropped, and the next message goes on a new one.</summary>
    private bool SignInAsCurrentLogon(Transaction t)
    {
        while (t.InFlight && _expected.Count > 0)
        {
            ReadNext();
        }

        if (!t.InFlight)
        {
            return false;
        }

        if (!_connected)
        {
            Connect();
        }

        long before = -1;
        try
        {
            if (_needsReset)
            {
                _needsReset = false;
                _wire.Send("RSET", -1, _token);
                _wire.ReadReply(_token);
            }

            before = _wire.WritesBegun;
            _connector.AuthenticateAsCurrentLogon(_token);
        }
        catch (MailOperationException ex)
        {
            _currentLogonWanted = false;
            _currentLogonFailure = ex;
            _verbose($"The current logon could not sign in to {_settings.Endpoint} ({ex.ErrorId}: {ex.Message})");
            if (_wire.WritesBegun != before)
            {
                Disconnect();
            }

            foreach (var waiting in _retries.Where(w => w.AwaitsSignIn).ToList())
            {
                if (!GoOnWithoutSignIn(waiting))
                {
                    _retries.Remove(waiting);
                }
            }

            if (t.AwaitsSignIn)
            {
                t.InFlight = false;
                if (GoOnWithoutSignIn(t))
                {
                    _retries.Add(t);
                }

                return false;
            }

            // A message that was not refused goes on without the sign-in (a recipient the server
            // takes from anyone still gets it).
            Connect();
            return true;
        }

        _signedInAutomatically = true;
        _verbose($"Signed in with the current logon ({_connector.AuthenticationMechanism}) because the server {_settings.Endpoint} refused mail without authentication, as Send-MailMessage did; the session stays signed in.");
        return true;
    }

    /// <summary>True when the Send-MailMessage rule signs in after a refusal for lack of
    /// authentication; false when it is off, the session is signed in already (the refusal stands),
    /// or the current logon cannot sign in here (<see cref="_currentLogonFailure"/> says why).</summary>
    private bool SignInPossible()
    {
        if (!RuleApplies)
        {
            return false;
        }

        var offered = _connector.Extensions.AuthMechanisms;
        if (_currentLogonFailure == null && !offered.Contains(CurrentLogon.MechanismName))
        {
            _currentLogonFailure = AuthenticationRequired.NotOffered(_settings, offered);
        }

        if (_currentLogonFailure != null)
        {
            return false;
        }

        _currentLogonWanted = true;
        return true;
    }

    private bool RuleApplies =>
        _settings.CurrentLogonWhenRefused && _settings.Credential == null && !_settings.UseDefaultCredentials && !_connector.IsAuthenticated;

    /// <summary>The sign-in that <paramref name="t"/> waited for did not happen: its refusals
    /// stand, with the reason. Returns true when recipients refused for another (transient) reason
    /// are still to be retried.</summary>
    private bool GoOnWithoutSignIn(Transaction t)
    {
        t.AwaitsSignIn = false;
        if (t.AuthRefusal is { } refusal)
        {
            Fail(t, AuthenticationRequired.Error(_settings, $"the message {t.Composed.Mime.MessageId}", refusal, _currentLogonFailure!));
            return false;
        }

        foreach (var (mailbox, reply) in t.SignInRefusals)
        {
            t.Pending.Remove(mailbox);
            t.Rejected.Add(new SmtpRejectedRecipient(mailbox.Address, reply.Code, reply.Text));
        }

        t.SignInRefusals.Clear();
        if (t.Pending.Count > 0)
        {
            return true;
        }

        Finish(t);
        return false;
    }

    /// <summary>NOOP on an idle connection; one that does not answer 250 is dropped, so that the
    /// message goes on a new one.</summary>
    private void Probe()
    {
        try
        {
            _wire.Send("NOOP", -1, _token);
            if (_wire.ReadReply(_token).IsPositive)
            {
                return;
            }

            _verbose("The server refused NOOP after the pacing wait; connecting again.");
        }
        catch (Exception ex) when (!_token.IsCancellationRequested && IsConnectionLoss(ex))
        {
            _verbose($"The connection did not survive the pacing wait ({ex.Message}); connecting again.");
        }

        _tap.Note("the idle connection failed NOOP");
        Disconnect();
    }

    private bool FinalReplyOutstanding()
    {
        foreach (var expected in _expected)
        {
            if (expected.Step == Step.Final)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Drops the connection in the middle of <paramref name="t"/>'s data, after the
    /// replies of the messages before it, which the server sends before it reads that data.</summary>
    private void DropBehind(Transaction t)
    {
        while (_connected && _expected.Count > 0 && _expected.Peek().Transaction != t)
        {
            ReadNext();
        }

        var behind = _order.Where(o => o.InFlight).ToList();
        _expected.Clear();
        Disconnect();
        foreach (var other in behind)
        {
            // Written after this message, so none of it can have been taken: it goes again.
            other.InFlight = false;
            other.Requeued = true;
            _retries.Add(other);
        }
    }

    /// <summary>Records that a reply is due; without PIPELINING, waits for it at once.</summary>
    private void Expect(Transaction t, Step step, MailboxAddress? recipient, bool pipelining)
    {
        _expected.Enqueue(new Expected(t, step, recipient));
        if (!pipelining)
        {
            _wire.Flush();
            ReadNext();
        }

        while (t.InFlight && _expected.Count >= MaxRepliesOutstanding)
        {
            ReadNext();
        }
    }

    /// <summary>Reads the next outstanding reply and applies it to its transaction.</summary>
    private void ReadNext()
    {
        SmtpReply reply;
        try
        {
            reply = _wire.ReadReply(_token);
        }
        catch (Exception ex) when (!_token.IsCancellationRequested && IsConnectionLoss(ex))
        {
            ConnectionLost(ex, _expected.Peek().Transaction);
            return;
        }
        catch (Exception) when (_token.IsCancellationRequested)
        {
            throw new OperationCanceledException(_token);
        }

        var (t, step, recipient) = _expected.Dequeue();
        switch (step)
        {
            case Step.Reset:
                break;
            case Step.Mail:
                t.MailReply = reply.IsPositive ? null : reply;
                break;
            case Step.Rcpt:
                if (reply.IsPositive && t.MailReply == null)
                {
                    t.AttemptAccepted.Add(recipient!);
                }
                else
                {
                    t.AttemptRefused.Add((recipient!, reply));
                }

                break;
            case Step.Data:
                if (reply.Code == 354 && !t.MayDeliver)
                {
                    // A server that lets DATA through a failed transaction gets an empty message,
                    // which it must refuse (RFC 2920 3.1).
                    _wire.Send(".", -1, _token);
                    _expected.Enqueue(new Expected(t, Step.Final, null));
                    t.Ignored = true;
                }
                else if (reply.Code == 354)
                {
                    t.DataGo = true;
                }
                else
                {
                    t.FinalReply = reply;
                    Conclude(t);
                }

                break;
            case Step.Final:
                if (!t.Ignored)
                {
                    t.FinalReply = reply;
                }

                Conclude(t);
                break;
        }
    }

    /// <summary>The connection broke (or timed out, or the server stopped speaking SMTP) with
    /// replies outstanding: a message whose end of data may have gone out is DeliveryUnknown;
    /// the others were not delivered, and are retried while retries are left. Only the
    /// <paramref name="awaited"/> message, whose reply did not come, spends an attempt: those
    /// behind it go again at once, on the new connection.</summary>
    private void ConnectionLost(Exception ex, Transaction awaited)
    {
        var stage = _tap.LastCommand == null ? "" : $" after {_tap.LastCommand}";
        var inFlight = _order.Where(t => t.InFlight).ToList();
        _expected.Clear();
        Disconnect();
        foreach (var t in inFlight)
        {
            t.InFlight = false;
            if (t.MailReply != null || (t.AttemptAccepted.Count == 0 && t.AttemptRefused.Count == t.Pending.Count))
            {
                // The sender or every recipient was refused: the server cannot have taken the
                // message, whatever went out after; the replies decide, as if the connection held.
                Conclude(t);
                continue;
            }

            if (t.EndQueuedAt >= 0 && _wire.WritesBegun > t.EndQueuedAt)
            {
                Fail(t, DeliveryUnknown(t.Composed, ex));
                continue;
            }

            if (t != awaited)
            {
                t.Requeued = true;
                _retries.Add(t);
                continue;
            }

            if (ConnectErrors.IsTimeout(ex) || t.Attempt > MaximumRetryCount)
            {
                var what = $"while sending {t.Composed.Mime.MessageId}{stage}; the message was not delivered";
                var error = ex is LineTimeoutException ? Stalled(ex, what) : ConnectErrors.Lost(_settings, ex, what);

                // A server that does not answer in time would make every later message wait
                // as long again: the session failed, and the command takes no more work.
                Fail(t, error.ErrorId == "Timeout" ? ConnectErrors.AsSessionFailure(error) : error);
                continue;
            }

            _verbose($"Connection lost{stage} before the message was complete ({ex.Message}); the server discards such a message.");
            _retries.Add(t);
        }
    }

    /// <summary>The transaction's last reply of this attempt came: decides between done,
    /// retry and error, as the replies say.</summary>
    private void Conclude(Transaction t)
    {
        t.InFlight = false;
        t.AwaitsSignIn = false;
        t.AuthRefusal = null;
        t.SignInRefusals.Clear();
        _needsReset |= t.FinalReply is not { IsPositive: true };
        var retriesLeft = t.Attempt <= MaximumRetryCount;
        if (t.MailReply is { } mail)
        {
            if (AuthenticationRequired.Is(mail, atRecipient: false) && SignInPossible())
            {
                _verbose($"The server refused {t.Composed.Mime.MessageId} without authentication ({mail.Code} {mail.Text.Replace('\n', ' ')}); signing in with the current logon to send it again.");
                t.AuthRefusal = mail;
                t.AwaitsSignIn = true;
                _retries.Add(t);
                return;
            }

            if (mail.IsTransient && retriesLeft)
            {
                _retries.Add(t);
                return;
            }

            Fail(t, AuthenticationRequired.Is(mail, atRecipient: false) && RuleApplies && _currentLogonFailure != null
                ? AuthenticationRequired.Error(_settings, $"the message {t.Composed.Mime.MessageId}", mail, _currentLogonFailure)
                : MessageRefused(mail, t, sender: true));
            return;
        }

        if (t.AttemptAccepted.Count == 0)
        {
            // No recipient was accepted: retry those refused for now, give up on the rest.
            t.Pending = CollectRefusals(t, retriesLeft);
            if (t.Pending.Count > 0)
            {
                _retries.Add(t);
            }
            else
            {
                Finish(t);
            }

            return;
        }

        var final = t.FinalReply!.Value;
        if (!final.IsPositive)
        {
            if (final.IsTransient && retriesLeft)
            {
                _retries.Add(t);
                return;
            }

            Fail(t, MessageRefused(final, t, sender: false));
            return;
        }

        t.Response = final.ToString();
        t.Accepted.AddRange(t.AttemptAccepted.Select(m => m.Address));
        t.Pending = CollectRefusals(t, retriesLeft);
        if (t.Pending.Count > 0)
        {
            _retries.Add(t);
            return;
        }

        Finish(t);
    }

    private void Finish(Transaction t)
    {
        var withoutAuthentication = RuleApplies && _currentLogonFailure != null
            ? t.Rejected.FirstOrDefault(r => AuthenticationRequired.Is(new SmtpReply(r.StatusCode, r.Response), atRecipient: true))
            : null;
        if (t.Accepted.Count == 0 && withoutAuthentication != null)
        {
            Fail(t, AuthenticationRequired.Error(_settings, "every recipient", new SmtpReply(withoutAuthentication.StatusCode, withoutAuthentication.Response), _currentLogonFailure!));
            return;
        }

        if (withoutAuthentication != null)
        {
            _verbose($"The server refused {withoutAuthentication.Address} without authentication, and the current logon could not sign in: {_currentLogonFailure!.Message}");
        }

        if (t.Accepted.Count == 0)
        {
            var first = t.Rejected.FirstOrDefault();
            Fail(t, new MailOperationException("AllRecipientsRejected", MailErrorKind.InvalidOperation,
                string.Join(", ", t.Rejected.Select(r => r.Address)),
                $"The server {_settings.Endpoint} refused every recipient, so the message was not sent" +
                (first == null ? "." : $" (first reply: {first.StatusCode} {first.Response}).")));
            return;
        }

        t.Outcome = new SmtpOutcome(t.Tag, new SmtpSendResult
        {
            MessageId = t.Composed.Mime.MessageId ?? "",
            From = t.Composed.Sender.Address,
            Subject = t.Input.Subject,
            Accepted = new TextList<string>(t.Accepted),
            Rejected = new TextList<SmtpRejectedRecipient>(t.Rejected),
            SmtpServer = _settings.Host,
            Port = _settings.Port,
            TlsProtocol = _wire.TlsProtocol,
            CertificateValidated = _wire.CertificateValidated,
            CertificateProblem = _wire.CertificateProblem,
            AuthenticationMechanism = _connector.AuthenticationMechanism,
            AutomaticSignIn = _signedInAutomatically && _connector.IsAuthenticated,
            ServerResponse = t.Response,
            Attempts = t.Attempt,
            Size = t.Data?.Length ?? 0,
            Elapsed = t.Stopwatch.Elapsed,
        }, null);
        t.Dispose();
    }

    private void Fail(Transaction t, MailOperationException error)
    {
        if (error.IsSessionFailure)
        {
            _sessionFailure ??= error;
        }

        t.Outcome = new SmtpOutcome(t.Tag, null, error);
        t.Dispose();
    }

    /// <summary>A message that was not sent because an earlier one ended the session.</summary>
    private MailOperationException NotSent(Transaction t) =>
        new("NotSent", _sessionFailure!.Kind, t.Tag ?? t.Composed.Mime.MessageId,
            $"The message {t.Composed.Mime.MessageId} was not sent: an earlier message ended the session " +
            $"({_sessionFailure.ErrorId}: {_sessionFailure.Message})", _sessionFailure);

    private void Disconnect()
    {
        _connected = false;
        _wire.Close();
    }

    /// <summary>The end of the data went out, then the connection broke or its reply did not come
    /// in time: the server may have taken the message. It is not sent again, and the next
    /// message goes on a new connection (the client dropped this one).</summary>
    private MailOperationException DeliveryUnknown(ComposedMessage composed, Exception ex)
    {
        var why = ConnectErrors.IsTimeout(ex)
            ? $"no reply came within {_settings.Timeout.TotalSeconds:0.###} s"
            : $"the connection was lost before the server confirmed it ({ex.Message})";
        return new MailOperationException("DeliveryUnknown", MailErrorKind.ConnectionError, composed.Mime.MessageId,
            $"The message {composed.Mime.MessageId} was sent in full to {_settings.Endpoint}, but {why}. It may or may not " +
            "have been delivered; it was not sent again, to avoid a duplicate.", ex);
    }

    private MailOperationException Stalled(Exception ex, string what) =>
        new("Timeout", MailErrorKind.OperationTimeout, _settings.Endpoint,
            $"The server {_settings.Endpoint} took longer than {_settings.Timeout.TotalSeconds:0.###} s to send one reply line {what}.", ex);

    private static bool IsConnectionLoss(Exception ex) =>
        ex is IOException || ex is SmtpProtocolViolation || ex is TimeoutException || ex is ObjectDisposedException ||
        ex is System.Net.Sockets.SocketException;

    /// <summary>Moves this attempt's refusals into the rejected list, except transient ones that
    /// can still be retried and those the automatic sign-in may lift; returns those.</summary>
    private List<MailboxAddress> CollectRefusals(Transaction t, bool retriesLeft)
    {
        var retry = new List<MailboxAddress>();
        foreach (var (mailbox, reply) in t.AttemptRefused)
        {
            if (retriesLeft && reply.IsTransient)
            {
                retry.Add(mailbox);
            }
            else if (AuthenticationRequired.Is(reply, atRecipient: true) && SignInPossible())
            {
                _verbose($"The server refused {mailbox.Address} without authentication ({reply.Code} {reply.Text.Replace('\n', ' ')}); signing in with the current logon to send to it again.");
                retry.Add(mailbox);
                t.SignInRefusals.Add((mailbox, reply));
                t.AwaitsSignIn = true;
            }
            else
            {
                t.Rejected.Add(new SmtpRejectedRecipient(mailbox.Address, reply.Code, reply.Text));
            }
        }

        return retry;
    }

    private MailOperationException MessageRefused(SmtpReply reply, Transaction t, bool sender)
    {
        var composed = t.Composed;
        if (SubmissionLimits.Refusal(reply, _settings, composed.Mime.MessageId ?? "", composed.Sender.Address, MaximumRetryCount, t.Tag) is { } limit)
        {
            return limit;
        }

        // 552 (RFC 5321: storage allocation exceeded; 5.3.4 "message too big") at MAIL FROM is about
        // the message's SIZE, not the sender.
        var tooLarge = reply.Code == 552;
        var (id, target) = tooLarge
            ? ("MessageTooLarge", composed.Mime.MessageId ?? "")
            : sender
                ? ("SenderRejected", composed.Sender.Address)
                : ("MessageRejected", composed.Mime.MessageId ?? "");
        var kind = tooLarge ? MailErrorKind.LimitsExceeded : reply.IsTransient ? MailErrorKind.ResourceUnavailable : MailErrorKind.InvalidOperation;
        var tail = reply.IsTransient ? $" It was still refused after {MaximumRetryCount} retries." : "";
        return new MailOperationException(id, kind, target,
            $"The server {_settings.Endpoint} refused the message: {reply.Code} {reply.Text.Replace('\n', ' ')}.{tail} Nothing was delivered.");
    }

    /// <summary>The one serialization of the message, in the form this server takes: 8-bit
    /// parts only where it offers 8BITMIME, UTF-8 headers only where it offers SMTPUTF8.</summary>
    private MessageData Serialize(ComposedMessage composed, SmtpExtensions extensions)
    {
        var format = extensions.SmtpUtf8 && IsInternational(composed) ? InternationalFormat : AsciiFormat;
        composed.Mime.Prepare(extensions.EightBitMime ? EncodingConstraint.EightBit : EncodingConstraint.SevenBit, 998);
        return MessageData.Serialize(composed.Mime, format, _token);
    }

    private static FormatOptions WireFormat(bool international)
    {
        var format = FormatOptions.Default.Clone();
        format.NewLineFormat = NewLineFormat.Dos;
        format.International = international;
        format.HiddenHeaders.Add(HeaderId.Bcc);
        format.HiddenHeaders.Add(HeaderId.ResentBcc);
        format.HiddenHeaders.Add(HeaderId.ContentLength);
        return format;
    }

    private static bool IsInternational(ComposedMessage composed)
    {
        if (composed.Sender.IsInternational)
        {
            return true;
        }

        foreach (var recipient in composed.Recipients)
        {
            if (recipient.IsInternational)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Refuses, before MAIL FROM, a message larger than the SIZE the server announced,
    /// saying both sizes.</summary>
    private void CheckSize(Transaction t, SmtpExtensions extensions)
    {
        var limit = extensions.MaxSize;
        if (!extensions.Size || limit == 0 || t.Data!.Length <= limit)
        {
            return;
        }

        throw new MailOperationException("MessageTooLarge", MailErrorKind.LimitsExceeded, t.Composed.Mime.MessageId ?? "",
            $"The message {t.Composed.Mime.MessageId} is {t.Data.Length:N0} bytes, and {_settings.Endpoint} accepts at most {limit:N0} bytes " +
            "(the SIZE it announces). Nothing was sent.");
    }

    private void CheckInternational(ComposedMessage composed, SmtpExtensions extensions)
    {
        if (extensions.SmtpUtf8)
        {
            return;
        }

        foreach (var mailbox in composed.Recipients.Append(composed.Sender))
        {
            if (mailbox.LocalPart.Any(c => c > '\u007f'))
            {
                throw new MailOperationException("SmtpUtf8NotSupported", MailErrorKind.InvalidArgument, mailbox.Address,
                    $"'{mailbox.Address}' has non-ASCII characters before the @, and {_settings.Endpoint} does not offer SMTPUTF8.");
            }
        }
    }

    private static string MailCommand(Transaction t, SmtpExtensions extensions, bool international)
    {
        var command = $"MAIL FROM:<{t.Composed.Sender.GetAddress(!international)}>";
        if (extensions.Size)
        {
            command += $" SIZE={t.Data!.Length}";
        }

        if (extensions.EightBitMime && HasEightBitPart(t.Composed.Mime))
        {
            command += " BODY=8BITMIME";
        }

        if (international)
        {
            command += " SMTPUTF8";
        }

        return command;
    }

    private static bool HasEightBitPart(MimeMessage mime)
    {
        foreach (var part in mime.BodyParts)
        {
            if (part is MimePart { ContentTransferEncoding: ContentEncoding.EightBit })
            {
                return true;
            }
        }

        return false;
    }

    private static string RcptCommand(MailboxAddress recipient, DsnRequest request, SmtpExtensions extensions, bool international)
    {
        var command = $"RCPT TO:<{recipient.GetAddress(!international)}>";
        if (request == DsnRequest.None || !extensions.Dsn)
        {
            return command;
        }

        if ((request & DsnRequest.Never) != 0)
        {
            return command + " NOTIFY=NEVER";
        }

        var notify = new List<string>();
        if ((request & DsnRequest.OnSuccess) != 0)
        {
            notify.Add("SUCCESS");
        }

        if ((request & DsnRequest.OnFailure) != 0)
        {
            notify.Add("FAILURE");
        }

        if ((request & DsnRequest.Delay) != 0)
        {
            notify.Add("DELAY");
        }

        return command + " NOTIFY=" + string.Join(",", notify);
    }

    private readonly record struct Expected(Transaction Transaction, Step Step, MailboxAddress? Recipient);

    /// <summary>One message on its way: the recipients still to try, what the server said in the
    /// current attempt, and what has been settled so far.</summary>
    private sealed class Transaction : IDisposable
    {
        public Transaction(OutgoingMessage input, ComposedMessage composed, object? tag)
        {
            Input = input;
            Composed = composed;
            Tag = tag;
            Pending = composed.Recipients.ToList();
        }

        public OutgoingMessage Input { get; }
        public ComposedMessage Composed { get; }
        public object? Tag { get; }
        public Stopwatch Stopwatch { get; } = Stopwatch.StartNew();
        public MessageData? Data { get; set; }
        public List<MailboxAddress> Pending { get; set; }
        public List<string> Accepted { get; } = new();
        public List<SmtpRejectedRecipient> Rejected { get; } = new();
        public string Response { get; set; } = "";
        public int Attempt { get; private set; }
        public SmtpOutcome? Outcome { get; set; }

        // The current attempt.
        public bool InFlight { get; set; }
        public SmtpReply? MailReply { get; set; }
        public List<MailboxAddress> AttemptAccepted { get; } = new();
        public List<(MailboxAddress Mailbox, SmtpReply Reply)> AttemptRefused { get; } = new();
        public bool DataGo { get; set; }
        public bool Ignored { get; set; }
        public SmtpReply? FinalReply { get; set; }

        /// <summary>The wire's count of writes begun when the end of the data was queued; -1
        /// before. A write begun after it may have carried the end to the server.</summary>
        public long EndQueuedAt { get; set; } = -1;

        /// <summary>The transaction can still deliver: the sender and a recipient were accepted.</summary>
        public bool MayDeliver => MailReply == null && AttemptAccepted.Count > 0;

        /// <summary>Sent again because another message's failure broke the connection: the
        /// attempt does not count.</summary>
        public bool Requeued { get; set; }

        /// <summary>Refused for lack of authentication; goes again, at once, after the automatic
        /// sign-in (the refusals stand if it fails): the sender's refusal, or the recipients'.</summary>
        public bool AwaitsSignIn { get; set; }
        public SmtpReply? AuthRefusal { get; set; }
        public List<(MailboxAddress Mailbox, SmtpReply Reply)> SignInRefusals { get; } = new();

        public void BeginAttempt()
        {
            Attempt += Requeued ? 0 : 1;
            Requeued = false;
            InFlight = false;
            MailReply = null;
            AttemptAccepted.Clear();
            AttemptRefused.Clear();
            DataGo = false;
            Ignored = false;
            FinalReply = null;
            EndQueuedAt = -1;
        }

        public void Dispose()
        {
            Data?.Dispose();
            Data = null;
            Composed.Dispose();
        }
    }
}
