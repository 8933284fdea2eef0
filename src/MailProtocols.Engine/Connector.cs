using System;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Net;
using System.Threading;
using MailKit.Security;
using MailProtocols.Engine.Smtp;

namespace MailProtocols.Engine;

/// <summary>
/// Sets up an SMTP session on an <see cref="SmtpWire"/>: connection, greeting, EHLO (HELO when
/// refused), TLS (implicit, or STARTTLS as the TLS mode asks) and authentication with MailKit's
/// SASL mechanisms. Every failure of the connection phase leaves as a
/// <see cref="MailOperationException"/> from <see cref="ConnectErrors"/>; cancellation leaves as
/// <see cref="OperationCanceledException"/>. The whole phase, greeting and handshake included,
/// ends within the timeout.
/// </summary>
internal sealed class Connector
{
    // The mechanisms tried, strongest first, when the user gave a password.
    // MailKit's SmtpClient ranks these so (strongest first) and took the first the server offered:
    // the earlier send path, which this one keeps (NTLM is what on-premises Exchange offers).
    private static readonly string[] PasswordMechanisms =
        { "SCRAM-SHA-512", "SCRAM-SHA-256", "SCRAM-SHA-1", "NTLM", "DIGEST-MD5", "CRAM-MD5", "PLAIN", "LOGIN" };

    private readonly SmtpWire _wire;
    private readonly ConnectionSettings _settings;
    private readonly ProtocolTap _tap;
    private readonly int _implicitTlsPort;
    private SmtpReply? _throttledBy; // the greeting of this attempt, when it said too many connections are open

    public Connector(SmtpWire wire, ConnectionSettings settings, ProtocolTap tap, int implicitTlsPort)
    {
        _wire = wire;
        _settings = settings;
        _tap = tap;
        _implicitTlsPort = implicitTlsPort;
    }

    /// <summary>TLS the user did not ask for, protecting no credentials, is opportunistic (RFC 7435).</summary>
    public static CertificateValidator Validator(ConnectionSettings settings) =>
        new(settings.SkipCertificateCheck, opportunistic: settings.TlsMode == TlsMode.Auto && settings.Credential == null);

    /// <summary>What the server offered in its last EHLO reply.</summary>
    public SmtpExtensions Extensions { get; private set; } = SmtpExtensions.None;

    public bool IsAuthenticated { get; private set; }

    /// <summary>The SASL mechanism that signed in (e.g. "GSSAPI"), or null.</summary>
    public string? AuthenticationMechanism { get; private set; }

    /// <summary>What the verbose stream should say about the sign-in (NTLM without channel binding), or null.</summary>
    public string? AuthenticationNote { get; private set; }

    public SecureSocketOptions SocketOptions => _settings.TlsMode switch
    {
        TlsMode.None => SecureSocketOptions.None,
        TlsMode.StartTls => SecureSocketOptions.StartTls,
        TlsMode.Implicit => SecureSocketOptions.SslOnConnect,
        _ => _settings.Port == _implicitTlsPort ? SecureSocketOptions.SslOnConnect : SecureSocketOptions.StartTlsWhenAvailable,
    };

    /// <summary>Connects, reads the greeting, says EHLO, negotiates TLS: all of it within the
    /// timeout. Any failure of this phase that a timeout caused (a silent read, the phase's own
    /// deadline, the caller's <see cref="Abort"/>) is ConnectTimeout, whichever timer fired first.</summary>
    public void Connect(CancellationToken token) => Connect(token, 0, TimeSpan.Zero, null);

    /// <summary><see cref="Connect(CancellationToken)"/>, connecting again up to
    /// <paramref name="maximumRetryCount"/> times, with the send path's back-off
    /// (<see cref="SmtpSender.RetryDelay"/>), while the greeting says that too many connections
    /// are open (<see cref="ConnectionThrottling"/>). Each attempt has the whole timeout.</summary>
    public void Connect(CancellationToken token, int maximumRetryCount, TimeSpan retryInterval, Action<string>? verbose)
    {
        for (var retry = 1; ; retry++)
        {
            _throttledBy = null;
            try
            {
                ConnectOnce(token);
                return;
            }
            catch (MailOperationException ex) when (_throttledBy is { } greeting)
            {
                if (retry > maximumRetryCount)
                {
                    throw ConnectionThrottling.Refusal(_settings, greeting, maximumRetryCount, ex);
                }

                var wait = SmtpSender.RetryDelay(retryInterval, retry);
                verbose?.Invoke($"{_settings.Endpoint} has too many connections open ({greeting}); connecting again in {wait.TotalSeconds:0.###} s ({retry} of {maximumRetryCount} retries).");
                _tap.Note($"connection limit: connecting again in {wait.TotalSeconds:0.###} s");
                if (token.WaitHandle.WaitOne(wait))
                {
                    throw new OperationCanceledException(token);
                }
            }
        }
    }

    private void ConnectOnce(CancellationToken token)
    {
        Extensions = SmtpExtensions.None;
        IsAuthenticated = false;
        AuthenticationMechanism = null;
        AuthenticationNote = null;
        _settings.PrefetchToken(token);
        var phase = Stopwatch.StartNew();
        var implicitTls = SocketOptions == SecureSocketOptions.SslOnConnect;
        _wire.Connect(implicitTls ? "smtps" : "smtp", implicitTls: false, token);
        using (PhaseDeadline(phase.Elapsed))
        {
            try
            {
                Negotiate(implicitTls, token);
            }
            catch (Exception ex) when (!token.IsCancellationRequested && _wire.TimedOut)
            {
                var error = TimedOut(ex);
                _wire.Close();
                throw error;
            }
            catch (MailOperationException ex) when (!token.IsCancellationRequested)
            {
                var error = WithAdvice(ex);
                _wire.Close();
                throw error;
            }
            catch (Exception ex) when (!token.IsCancellationRequested && !(ex is OperationCanceledException))
            {
                // The server closed the connection, or sent what is not SMTP, in answer to a
                // command: it refuses the session. Before any command, it could not be reached.
                var error = _tap.LastCommand != null && (ex is IOException || ex is SmtpProtocolViolation)
                    ? ConnectErrors.ServerRefused(_settings, ex.Message, ex)
                    : ConnectErrors.Unreachable(_settings, ex);
                error = WithAdvice(error);
                _wire.Close();
                throw error;
            }
        }

        if (_wire.TimedOut)
        {
            // The deadline fired just as the session was set up: the connection is closed.
            var error = TimedOut(new TimeoutException("The connection phase ran out of time."));
            _wire.Close();
            throw error;
        }
    }

    /// <summary>Bounds the setup of the session (greeting, TLS, every EHLO) to what is left of the
    /// timeout after <paramref name="elapsed"/> went on the TCP connection, however the server
    /// trickles its lines: when it runs out, the connection is aborted as timed out. Dispose it
    /// once the session is set up.</summary>
    internal IDisposable PhaseDeadline(TimeSpan elapsed) => new Deadline(_wire, _settings.Timeout - elapsed, _settings.Timeout);

    /// <summary>Ends the current connection as timed out: a read or write waiting on it, and
    /// every later one, throws a timeout.</summary>
    public void Abort(string reason) => _wire.Abort(reason);

    /// <summary>Authenticates when credentials were given, refusing to do so in plain text
    /// unless the user allowed it. A connection lost meanwhile leaves as it is (the caller may
    /// retry: nothing was sent).</summary>
    public void Authenticate(CancellationToken token)
    {
        var credential = _settings.Credential;
        if (credential == null && !_settings.UseDefaultCredentials)
        {
            return;
        }

        var reply = SignIn(token, out var mechanismName);
        if (reply.Code != 235)
        {
            throw ConnectErrors.AuthenticationFailed(_settings, credential?.UserName ?? CurrentLogon.Description, reply.ToString(),
                AuthenticationHints.ForSmtpReply(reply.Code, reply.Text, _settings.UseOAuth2));
        }

        IsAuthenticated = true;
        AuthenticationMechanism = mechanismName;
    }

    /// <summary>The Send-MailMessage rule: signs in as the current logon (GSSAPI) on a session
    /// whose server refused mail without authentication, with nothing outstanding on it.
    /// Kerberos proves the server, so plain text and unvalidated TLS are no obstacle.</summary>
    public void AuthenticateAsCurrentLogon(CancellationToken token)
    {
        if (!Extensions.AuthMechanisms.Contains(CurrentLogon.MechanismName))
        {
            throw AuthenticationRequired.NotOffered(_settings, Extensions.AuthMechanisms);
        }

        var mechanism = CurrentLogon.SmtpMechanism(_settings);
        SmtpReply reply;
        try
        {
            reply = Sasl(_wire, mechanism, token);
        }
        catch (AuthenticationException ex)
        {
            throw ConnectErrors.AuthenticationFailed(_settings, CurrentLogon.Description, ex.Message, ex);
        }

        if (reply.Code != 235)
        {
            throw ConnectErrors.AuthenticationFailed(_settings, CurrentLogon.Description, reply.ToString());
        }

        IsAuthenticated = true;
        AuthenticationMechanism = mechanism.MechanismName;
    }

    /// <summary>Sends the credentials with the mechanism chosen for them and returns the server's
    /// last reply, whatever its code; first refuses (as errors) to send a password in plain text
    /// unless allowed, or over TLS whose certificate failed a check that was not skipped.</summary>
    internal SmtpReply SignIn(CancellationToken token, out string mechanismName)
    {
        var user = _settings.Credential?.UserName ?? CurrentLogon.Description;
        var offered = Extensions.AuthMechanisms;
        var name = ChooseMechanism(_settings, offered);

        // Kerberos sends no password to the server and proves the server (mutual authentication),
        // so it may sign in over plain text or unverified TLS; a password (NTLM's too) may not.
        var kerberos = _settings.UseDefaultCredentials || name == CurrentLogon.MechanismName;
        if (!kerberos && !_wire.IsSecure && !_settings.AllowUnencryptedAuthentication)
        {
            throw ConnectErrors.UnencryptedAuthenticationRefused(_settings);
        }

        // The send path's handshake already refuses such a certificate; a caller whose validator
        // let the session go on for its report (the probe) stops here.
        if (!kerberos && _wire.IsSecure && !_wire.Validator.Validated && !_settings.SkipCertificateCheck)
        {
            throw ConnectErrors.CertificateRejected(_settings, $"{_wire.Validator.Errors}, so the credentials were not sent", null);
        }

        if (name == null && _settings.UseDefaultCredentials)
        {
            throw CurrentLogon.NotOffered(_settings, offered);
        }

        if (name == null && _settings.Mechanisms is { } choice && (choice.Chosen != null || PasswordMechanisms.Any(m => offered.Contains(m) && SaslMechanism.IsSupported(m))))
        {
            throw choice.NotOffered(_settings, offered);
        }

        if (name == null)
        {
            throw ConnectErrors.AuthenticationNotSupported(_settings, offered.Count == 0 ? "none" : string.Join(", ", offered));
        }

        var mechanism = CreateMechanism(_settings, name, CurrentLogon.SmtpService, token, _wire.Tls, note => AuthenticationNote = note);
        mechanismName = mechanism.MechanismName;
        try
        {
            return Sasl(_wire, mechanism, token);
        }
        catch (AuthenticationException ex)
        {
            throw ConnectErrors.AuthenticationFailed(_settings, user, ex.Message, ex);
        }
    }

    /// <summary>The SASL mechanism for the settings' credential among those offered: GSSAPI for
    /// the current logon, XOAUTH2 for a token, else the first password mechanism that the user's
    /// choice (<see cref="ConnectionSettings.Mechanisms"/>) or, without one, strength puts first;
    /// null when none fits.</summary>
    internal static string? ChooseMechanism(ConnectionSettings settings, System.Collections.Generic.IList<string> offered)
    {
        if (settings.UseDefaultCredentials)
        {
            return offered.Contains(CurrentLogon.MechanismName) ? CurrentLogon.MechanismName : null;
        }

        if (settings.UseOAuth2)
        {
            return offered.Count == 0 ? null : "XOAUTH2";
        }

        var order = settings.Mechanisms?.Order(PasswordMechanisms) ?? PasswordMechanisms;
        return order.FirstOrDefault(m => offered.Contains(m) && (m == CurrentLogon.MechanismName || SaslMechanism.IsSupported(m)));
    }

    /// <summary>The SASL mechanism <paramref name="name"/> (from <see cref="ChooseMechanism"/>) for
    /// the settings' credential; <paramref name="service"/> names the Kerberos service ("smtp", "pop").
    /// <paramref name="tls"/> is the session's TLS stream, whose channel binding NTLM sends;
    /// <paramref name="note"/> hears what the verbose stream should say about the choice.</summary>
    internal static SaslMechanism CreateMechanism(ConnectionSettings settings, string name, string service, CancellationToken token,
        System.Net.Security.SslStream? tls = null, Action<string>? note = null)
    {
        if (settings.UseDefaultCredentials)
        {
            return service == CurrentLogon.SmtpService ? CurrentLogon.SmtpMechanism(settings) : CurrentLogon.Mechanism(settings, service);
        }

        var credential = settings.Credential!;
        if (settings.UseOAuth2)
        {
            return new SaslMechanismOAuth2(credential.UserName, settings.OAuth2Token(credential, token));
        }

        if (name == NtlmMechanism.Name)
        {
            var target = $"{(service == CurrentLogon.SmtpService ? CurrentLogon.ExchangeSmtpService : service.ToUpperInvariant())}/{settings.Host}";
            return NtlmMechanism.Create(credential, target, tls, note ?? (_ => { }));
        }

        if (name != CurrentLogon.MechanismName)
        {
            return SaslMechanism.Create(name, credential)!;
        }

        return service == CurrentLogon.SmtpService ? CurrentLogon.SmtpMechanism(settings, credential) : CurrentLogon.Mechanism(settings, service, credential);
    }

    private void Negotiate(bool implicitTls, CancellationToken token)
    {
        if (implicitTls)
        {
            _wire.StartTls(token);
        }

        Greet(token);
        Hello(token);
        if (WantsStartTls)
        {
            StartTls(token);
            Hello(token);
        }
    }

    /// <summary>The server's greeting, or null before it came.</summary>
    internal SmtpReply? Greeting { get; private set; }

    /// <summary>True when the last EHLO was refused and HELO was accepted: no extensions.</summary>
    internal bool HeloOnly { get; private set; }

    /// <summary>Reads the greeting; anything but 220 is a refusal of the session (and, when it
    /// says that too many connections are open, one that <see cref="Connect(CancellationToken, int, TimeSpan, Action{string})"/> retries).</summary>
    internal SmtpReply Greet(CancellationToken token)
    {
        Greeting = null;
        var greeting = _wire.ReadReply(token);
        Greeting = greeting;
        if (greeting.Code != 220)
        {
            if (ConnectionThrottling.IsConnectionLimit(greeting))
            {
                _throttledBy = greeting;
            }

            throw ConnectErrors.ServerRefused(_settings, greeting.ToString());
        }

        return greeting;
    }

    /// <summary>Whether the TLS mode wants STARTTLS after the EHLO just made: always with
    /// StartTls (<see cref="StartTls"/> then fails when it is not offered), when offered with Auto.</summary>
    internal bool WantsStartTls
    {
        get
        {
            var options = SocketOptions;
            return options == SecureSocketOptions.StartTls || (options == SecureSocketOptions.StartTlsWhenAvailable && Extensions.StartTls);
        }
    }

    /// <summary>STARTTLS and the handshake; the EHLO after it is the caller's.</summary>
    internal void StartTls(CancellationToken token)
    {
        if (!Extensions.StartTls)
        {
            throw ConnectErrors.StartTlsNotOffered(_settings);
        }

        _wire.Send("STARTTLS", -1, token);
        var reply = _wire.ReadReply(token);
        if (reply.Code != 220)
        {
            throw ConnectErrors.StartTlsFailed(_settings, reply.ToString());
        }

        _wire.StartTls(token);
    }

    /// <summary>EHLO, and HELO (no extensions) when the server refuses EHLO; returns the reply
    /// accepted.</summary>
    internal SmtpReply Hello(CancellationToken token)
    {
        Extensions = SmtpExtensions.None;
        HeloOnly = false;
        var name = LocalName(_wire);
        _wire.Send($"EHLO {name}", -1, token);
        var reply = _wire.ReadReply(token);
        if (reply.Code == 250)
        {
            Extensions = new SmtpExtensions(reply.Text.Split('\n').Skip(1));
            return reply;
        }

        _wire.Send($"HELO {name}", -1, token);
        var helo = _wire.ReadReply(token);
        if (helo.Code != 250)
        {
            throw ConnectErrors.ServerRefused(_settings, $"EHLO: {reply}; HELO: {helo}");
        }

        HeloOnly = true;
        return helo;
    }

    /// <summary>The address literal of this end of the connection (RFC 5321 4.1.4, for a
    /// client without a domain name of its own).</summary>
    internal static string LocalName(MailWire wire)
    {
        if (!(wire.LocalEndPoint is IPEndPoint local))
        {
            return "[127.0.0.1]";
        }

        var address = local.Address.IsIPv4MappedToIPv6 ? local.Address.MapToIPv4() : local.Address;
        return address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"[IPv6:{address}]" : $"[{address}]";
    }

    /// <summary>AUTH with a MailKit SASL mechanism (RFC 4954); every line the client sends after
    /// the mechanism name is a secret and is redacted in the transcript.</summary>
    internal static SmtpReply Sasl(SmtpWire wire, SaslMechanism mechanism, CancellationToken token)
    {
        var command = $"AUTH {mechanism.MechanismName}";
        if (mechanism.SupportsInitialResponse)
        {
            var initial = mechanism.Challenge(null, token);
            wire.Send($"{command} {initial}", command.Length + 1, token);
        }
        else
        {
            wire.Send(command, -1, token);
        }

        while (true)
        {
            var reply = wire.ReadReply(token);
            if (reply.Code != 334)
            {
                return reply;
            }

            // After the last step (e.g. a failed XOAUTH2 reports its error as a challenge), an
            // empty line lets the server finish with its error.
            var answer = mechanism.IsAuthenticated ? "" : mechanism.Challenge(reply.Text.Trim(), token);
            wire.Send(answer, 0, token);
        }
    }

    private MailOperationException TimedOut(Exception ex)
    {
        var error = ConnectErrors.Unreachable(_settings, new TimeoutException($"No greeting and handshake within {_settings.Timeout.TotalSeconds:0.###} s.", ex));

        // A client that waits for a greeting on a port that waits for a TLS handshake: both stay silent.
        var tlsPortLikely = SocketOptions != SecureSocketOptions.SslOnConnect && (_wire.BytesRead == 0 || _wire.ReceivedTlsRecord);
        return tlsPortLikely ? ConnectErrors.WithImplicitTlsAdvice(error) : error;
    }

    private MailOperationException WithAdvice(MailOperationException error) =>
        _wire.ReceivedTlsRecord && SocketOptions != SecureSocketOptions.SslOnConnect ? ConnectErrors.WithImplicitTlsAdvice(error) : error;

    /// <summary>The phase deadline: aborts the wire, as timed out, when the time is up.</summary>
    private sealed class Deadline : IDisposable
    {
        private readonly CancellationTokenSource _limit;
        private readonly CancellationTokenRegistration _abort;

        public Deadline(SmtpWire wire, TimeSpan left, TimeSpan timeout)
        {
            _limit = new CancellationTokenSource(left > TimeSpan.Zero ? left : TimeSpan.Zero);
            _abort = _limit.Token.Register(() => wire.Abort($"No greeting and handshake within {timeout.TotalSeconds:0.###} s."));
        }

        public void Dispose()
        {
            _abort.Dispose();
            _limit.Dispose();
        }
    }
}
