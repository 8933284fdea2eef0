using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Threading;
using MailKit;
using MailKit.Net.Smtp;
using MimeKit;
using MimeKit.IO;

namespace MailProtocols.Engine.Smtp;

/// <summary>
/// Sends messages over one SMTP connection, opened on first use and reopened when the server
/// closes it between messages. Transient failures are retried with exponential backoff, but
/// only while the end of the message data has not gone out: after that, a lost or late reply
/// means "delivery unknown", reported for that message and never retried, so no message is ever
/// sent twice; the next message goes on a new connection.
/// </summary>
public sealed class SmtpSender : IDisposable
{
    /// <summary>The relay port: the default without -Port, as it was for Send-MailMessage
    /// (submission servers listen on 587 as well).</summary>
    public const int RelayPort = 25;
    public const int ImplicitTlsPort = 465;

    /// <summary>The longest wait between two attempts, unless the retry interval itself is longer.</summary>
    public static readonly TimeSpan MaximumRetryWait = TimeSpan.FromSeconds(60);

    private readonly ConnectionSettings _settings;
    private readonly Action<string> _verbose;
    private readonly CancellationToken _token;
    private readonly ProtocolTap _tap;
    private readonly EngineSmtpClient _client;
    private readonly Connector _connector;
    private readonly Timer _watchdog;
    private long _connectStarted; // Stopwatch timestamp at which the current connection was begun
    private volatile bool _stalled;

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
        _client = new EngineSmtpClient(_tap);
        _connector = new Connector(_client, settings, _tap, ImplicitTlsPort);

        // The connection's stream bounds each read, so a server that trickles a reply a byte at
        // a time could hold a command for ever: a reply line that takes longer than the timeout
        // to arrive ends the connection as timed out.
        _watchdog = new Timer(_ => CheckForStall(), null, 250, 250);
    }

    private void CheckForStall()
    {
        var age = _tap.PartialLineAge;
        var sinceConnect = TimeSpan.FromSeconds((Stopwatch.GetTimestamp() - Interlocked.Read(ref _connectStarted)) / (double)Stopwatch.Frequency);

        // A line left unfinished by an earlier connection is older than this one: it does not count.
        if (!_stalled && age > _settings.Timeout && age < sinceConnect)
        {
            _stalled = true;
            _connector.Abort($"The server took longer than {_settings.Timeout.TotalSeconds:0.###} s to send one reply line.");
        }
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

    /// <summary>Checks a message (addresses, files, headers) without connecting and says what
    /// would be sent. Throws the same errors <see cref="Send"/> would before connecting.</summary>
    public static string Describe(OutgoingMessage message)
    {
        using var composed = MessageComposer.Compose(message);
        var attachments = message.Attachments.Count == 0 ? "" : $", {message.Attachments.Count} attachment(s)";
        return $"message '{message.Subject}' from {composed.Sender.Address} to {string.Join(", ", composed.Recipients.Select(r => r.Address))}{attachments}";
    }

    /// <summary>Opens the connection (TLS, authentication) if it is not open.</summary>
    public void Connect()
    {
        if (_client.IsConnected)
        {
            return;
        }

        _token.ThrowIfCancellationRequested();
        Interlocked.Exchange(ref _connectStarted, Stopwatch.GetTimestamp());
        _stalled = false;
        _verbose($"Connecting to {_settings.Endpoint} ({_connector.SocketOptions}).");
        _connector.Connect(_token);
        _verbose($"Connected to {_settings.Endpoint}; TLS: {TlsProtocol}; extensions: {_client.Capabilities}.");
        _connector.Authenticate(_token);
        if (_client.IsAuthenticated)
        {
            _verbose($"Authenticated as '{_settings.Credential!.UserName}'.");
        }
    }

    private string TlsProtocol => _client.IsSecure ? _client.SslProtocol.ToString() : "None";

    /// <summary>Sends one message. Recipients the server refuses are listed in the result's
    /// Rejected; if it refuses them all, or the message itself, this throws.</summary>
    public SmtpSendResult Send(OutgoingMessage message)
    {
        using var composed = MessageComposer.Compose(message);
        var stopwatch = Stopwatch.StartNew();
        var pending = composed.Recipients.ToList();
        var accepted = new List<string>();
        var rejected = new List<SmtpRejectedRecipient>();
        var response = "";
        var progress = new ByteCounter();
        var attempt = 0;

        while (pending.Count > 0)
        {
            attempt++;
            var retriesLeft = attempt <= MaximumRetryCount;
            try
            {
                // Before connecting: a connection lost while setting up must not count as this
                // message's data having gone out because the previous message's had.
                _tap.BeginTransaction();
                Connect();
                CheckInternational(composed);
                CheckSize(composed);
                _client.BeginTransaction();
                _client.Notify = ToNotify(message.DeliveryNotification);
                _verbose($"Sending {composed.Mime.MessageId} to {pending.Count} recipient(s), attempt {attempt}.");
                response = _client.Send(FormatOptions.Default, composed.Mime, composed.Sender, pending, _token, progress);

                accepted.AddRange(_client.AcceptedRecipients.Select(m => m.Address));
                pending = CollectRefusals(rejected, retriesLeft);
            }
            catch (SmtpCommandException ex) when (!_token.IsCancellationRequested)
            {
                var status = (int)ex.StatusCode;
                var transient = status >= 400 && status < 500;
                if (ex.ErrorCode == SmtpErrorCode.MessageNotAccepted && _client.RejectedRecipients.Count == pending.Count && pending.Count > 0)
                {
                    // No recipient was accepted: retry those refused for now, give up on the rest.
                    pending = CollectRefusals(rejected, retriesLeft);
                    if (pending.Count == 0)
                    {
                        break;
                    }
                }
                else if (!transient || !retriesLeft)
                {
                    throw MessageRefused(ex, composed, transient);
                }
            }
            catch (Exception ex) when (!_token.IsCancellationRequested && IsConnectionLoss(ex))
            {
                var stage = _tap.LastCommand == null ? "" : $" after {_tap.LastCommand}";
                if (_tap.DataTerminatorSent)
                {
                    throw DeliveryUnknown(composed, ex);
                }

                if (ConnectErrors.IsTimeout(ex) || !retriesLeft)
                {
                    var what = $"while sending {composed.Mime.MessageId}{stage}; the message was not delivered";
                    var error = _stalled ? Stalled(ex, what) : ConnectErrors.Lost(_settings, ex, what);

                    // A server that does not answer in time would make every later message wait
                    // as long again: the session failed, and the command takes no more work.
                    throw error.ErrorId == "Timeout" ? ConnectErrors.AsSessionFailure(error) : error;
                }

                _verbose($"Connection lost{stage} before the message was complete ({ex.Message}); the server discards such a message.");
            }
            catch (Exception) when (_token.IsCancellationRequested)
            {
                throw new OperationCanceledException(_token);
            }

            if (pending.Count > 0)
            {
                var wait = RetryDelay(RetryInterval, attempt);
                _verbose($"Retrying in {wait.TotalSeconds:0.###} s ({attempt} of {MaximumRetryCount} retries).");
                _tap.Note($"retry {attempt} in {wait.TotalSeconds:0.###} s");
                if (_token.WaitHandle.WaitOne(wait))
                {
                    throw new OperationCanceledException(_token);
                }
            }
        }

        if (accepted.Count == 0)
        {
            var first = rejected.FirstOrDefault();
            throw new MailOperationException("AllRecipientsRejected", MailErrorKind.InvalidOperation,
                string.Join(", ", rejected.Select(r => r.Address)),
                $"The server {_settings.Endpoint} refused every recipient, so the message was not sent" +
                (first == null ? "." : $" (first reply: {first.StatusCode} {first.Response})."));
        }

        return new SmtpSendResult
        {
            MessageId = composed.Mime.MessageId ?? "",
            From = composed.Sender.Address,
            Subject = message.Subject,
            Accepted = new TextList<string>(accepted),
            Rejected = new TextList<SmtpRejectedRecipient>(rejected),
            SmtpServer = _settings.Host,
            Port = _settings.Port,
            TlsProtocol = TlsProtocol,
            CertificateValidated = _client.IsSecure && _connector.CertificateValidated,
            CertificateProblem = _client.IsSecure ? _connector.CertificateProblem : null,
            ServerResponse = response,
            Attempts = attempt,
            Size = progress.Bytes,
            Elapsed = stopwatch.Elapsed,
        };
    }

    /// <summary>Ends the session politely with QUIT.</summary>
    public void Quit()
    {
        if (!_client.IsConnected)
        {
            return;
        }

        try
        {
            _client.Disconnect(true, _token);
        }
        catch (Exception ex) when (!_token.IsCancellationRequested && IsConnectionLoss(ex))
        {
            // Every message already has its own final reply; a QUIT that goes unanswered changes nothing.
            _verbose($"The server did not answer QUIT cleanly: {ex.Message}");
        }
    }

    public void Dispose()
    {
        _watchdog.Dispose();
        _client.Dispose();
        _tap.Dispose();
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
        ex is IOException || ex is SmtpProtocolException || ex is ServiceNotConnectedException ||
        ex is TimeoutException || ex is ObjectDisposedException || ex is System.Net.Sockets.SocketException;

    /// <summary>Moves this attempt's refusals into <paramref name="rejected"/>, except transient
    /// ones that can still be retried; returns those.</summary>
    private List<MailboxAddress> CollectRefusals(List<SmtpRejectedRecipient> rejected, bool retriesLeft)
    {
        var retry = new List<MailboxAddress>();
        foreach (var (mailbox, reply) in _client.RejectedRecipients)
        {
            var status = (int)reply.StatusCode;
            if (retriesLeft && status >= 400 && status < 500)
            {
                retry.Add(mailbox);
            }
            else
            {
                rejected.Add(new SmtpRejectedRecipient(mailbox.Address, status, reply.Response));
            }
        }

        return retry;
    }

    private MailOperationException MessageRefused(SmtpCommandException ex, ComposedMessage composed, bool transient)
    {
        // 552 (RFC 5321: storage allocation exceeded; 5.3.4 "message too big") at MAIL FROM is about
        // the message's SIZE, not the sender.
        var tooLarge = ex.StatusCode == SmtpStatusCode.ExceededStorageAllocation;
        var (id, target) = tooLarge
            ? ("MessageTooLarge", composed.Mime.MessageId ?? "")
            : ex.ErrorCode == SmtpErrorCode.SenderNotAccepted
                ? ("SenderRejected", composed.Sender.Address)
                : ("MessageRejected", composed.Mime.MessageId ?? "");
        var kind = tooLarge ? MailErrorKind.LimitsExceeded : transient ? MailErrorKind.ResourceUnavailable : MailErrorKind.InvalidOperation;
        var tail = transient ? $" It was still refused after {MaximumRetryCount} retries." : "";
        return new MailOperationException(id, kind, target,
            $"The server {_settings.Endpoint} refused the message: {(int)ex.StatusCode} {ex.Message}.{tail} Nothing was delivered.", ex);
    }

    /// <summary>Refuses, before MAIL FROM, a message larger than the SIZE the server announced,
    /// saying both sizes.</summary>
    private void CheckSize(ComposedMessage composed)
    {
        var limit = (long)_client.MaxSize;
        if ((_client.Capabilities & SmtpCapabilities.Size) == 0 || limit == 0)
        {
            return;
        }

        using var measure = new MeasuringStream();
        composed.Mime.WriteTo(FormatOptions.Default, measure, _token);
        if (measure.Length > limit)
        {
            throw new MailOperationException("MessageTooLarge", MailErrorKind.LimitsExceeded, composed.Mime.MessageId ?? "",
                $"The message {composed.Mime.MessageId} is {measure.Length:N0} bytes, and {_settings.Endpoint} accepts at most {limit:N0} bytes " +
                "(the SIZE it announces). Nothing was sent.");
        }
    }

    private void CheckInternational(ComposedMessage composed)
    {
        if ((_client.Capabilities & SmtpCapabilities.UTF8) != 0)
        {
            return;
        }

        foreach (var mailbox in composed.Recipients.Append(composed.Sender))
        {
            var local = mailbox.LocalPart;
            if (local.Any(c => c > '\u007f'))
            {
                throw new MailOperationException("SmtpUtf8NotSupported", MailErrorKind.InvalidArgument, mailbox.Address,
                    $"'{mailbox.Address}' has non-ASCII characters before the @, and {_settings.Endpoint} does not offer SMTPUTF8.");
            }
        }
    }

    private static DeliveryStatusNotification? ToNotify(DsnRequest request)
    {
        if (request == DsnRequest.None)
        {
            return null;
        }

        if ((request & DsnRequest.Never) != 0)
        {
            return DeliveryStatusNotification.Never;
        }

        DeliveryStatusNotification notify = 0;
        if ((request & DsnRequest.OnSuccess) != 0)
        {
            notify |= DeliveryStatusNotification.Success;
        }

        if ((request & DsnRequest.OnFailure) != 0)
        {
            notify |= DeliveryStatusNotification.Failure;
        }

        if ((request & DsnRequest.Delay) != 0)
        {
            notify |= DeliveryStatusNotification.Delay;
        }

        return notify;
    }

    private sealed class ByteCounter : ITransferProgress
    {
        public long Bytes { get; private set; }

        public void Report(long bytesTransferred, long totalSize) => Bytes = bytesTransferred;

        public void Report(long bytesTransferred) => Bytes = bytesTransferred;
    }
}
