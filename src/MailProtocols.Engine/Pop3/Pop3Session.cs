using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Net;
using System.Runtime.ExceptionServices;
using System.Security.Cryptography;
using System.Text;
using System.Threading;
using MailKit.Security;

namespace MailProtocols.Engine.Pop3;

/// <summary>A message as the mailbox lists it: its number in this session, size and UID.</summary>
public sealed class Pop3Entry
{
    public Pop3Entry(int number, long size, string? uid)
    {
        Number = number;
        Size = size;
        Uid = uid;
    }

    public int Number { get; }
    public long Size { get; }

    /// <summary>The server's unique ID (UIDL); null when the server has no UIDL.</summary>
    public string? Uid { get; }

    /// <summary>How the session that listed the message logged in (see
    /// <see cref="Pop3Session.AuthenticationMechanism"/>); null for a message read from a file.</summary>
    public string? AuthenticationMechanism { get; internal set; }
}

/// <summary>
/// One POP3 session (RFC 1939) over <see cref="Pop3Wire"/>: greeting, CAPA, STLS, login, listing,
/// TOP, RETR streamed to a stream, DELE, and QUIT, the only step that makes deletions happen.
/// Disposing without <see cref="Quit"/> drops the connection, and the server then deletes nothing.
/// MailKit's own POP3 client is not used because it buffers every message in memory; its SASL
/// mechanisms and protocol logger are.
/// </summary>
public sealed class Pop3Session : IDisposable
{
    public const int PlainPort = 110;
    public const int ImplicitTlsPort = 995;
    private const int BatchSize = 100;
    private const int WindowCount = 256; // RETR/TOP commands outstanding at most
    private const long WindowBytes = 2 * 1024 * 1024; // and the sizes LIST gave for them
    private static readonly char[] Space = { ' ' };

    private readonly ConnectionSettings _settings;
    private readonly Action<string> _verbose;
    private readonly CancellationToken _token;
    private readonly ProtocolTap _tap;
    private readonly Pop3Wire _wire;
    private HashSet<string>? _capabilities; // null: the server has no CAPA
    private string? _apopTimestamp;
    private bool _topWorked;

    public Pop3Session(ConnectionSettings settings, Action<string>? verbose, CancellationToken token)
        : this(settings, verbose, token, null)
    {
    }

    /// <summary>A session whose certificates go through <paramref name="validator"/> (the probe's
    /// lets every handshake finish and reports the verdict); null: the settings' own check.</summary>
    internal Pop3Session(ConnectionSettings settings, Action<string>? verbose, CancellationToken token, CertificateValidator? validator)
    {
        if (settings.Port == 0)
        {
            throw new ArgumentException("The settings name no port: the caller chooses the default (PlainPort or ImplicitTlsPort).", nameof(settings));
        }

        _settings = settings;
        _verbose = verbose ?? (_ => { });
        _token = token;
        _tap = new ProtocolTap(settings.TranscriptPath);
        _wire = validator == null ? new Pop3Wire(settings, _tap) : new Pop3Wire(settings, _tap, validator);
    }

    /// <summary>The connection, for the probe's report of addresses, TLS and what the server sent first.</summary>
    internal Pop3Wire Wire => _wire;

    /// <summary>The APOP timestamp of the greeting ("&lt;...&gt;"), or null.</summary>
    internal string? ApopTimestamp => _apopTimestamp;

    /// <summary>True for TLS from the first byte: -TlsMode Implicit, or Auto on port 995.</summary>
    internal bool ImplicitTls => _settings.TlsMode == TlsMode.Implicit || (_settings.TlsMode == TlsMode.Auto && _settings.Port == ImplicitTlsPort);

    public string TlsProtocol => _wire.TlsProtocol;

    /// <summary>How the session logged in: a SASL mechanism ("GSSAPI", "XOAUTH2", "PLAIN"),
    /// "USER" or "APOP"; null before the login.</summary>
    public string? AuthenticationMechanism { get; private set; }

    public bool SupportsUidl => _capabilities == null || _capabilities.Contains("UIDL");

    private bool Pipelining => _capabilities?.Contains("PIPELINING") == true;

    /// <summary>Connects, secures and logs in. Failures are session failures.</summary>
    public void Open()
    {
        var credential = _settings.UseDefaultCredentials ? null : _settings.Credential ?? throw new MailOperationException("CredentialRequired", MailErrorKind.InvalidArgument, null,
            "A POP3 mailbox needs a login: give -Credential, or -AccessToken for OAuth2.") { IsSessionFailure = true };
        var implicitTls = ImplicitTls;

        _settings.PrefetchToken(_token);
        _verbose($"Connecting to {_settings.Endpoint} ({(implicitTls ? "implicit TLS" : _settings.TlsMode.ToString())}).");
        Exchange("while connecting", true, () =>
        {
            _wire.Connect(implicitTls, _token);
            var greeting = ReadGreeting();
            if (!greeting.IsOk)
            {
                throw ConnectErrors.ServerRefused(_settings, greeting.Text);
            }

            ReadCapabilities();
            if (!implicitTls && _settings.TlsMode != TlsMode.None)
            {
                NegotiateStls();
            }
        });
        _verbose($"Connected to {_settings.Endpoint}; TLS: {TlsProtocol}; capabilities: {(_capabilities == null ? "(no CAPA)" : string.Join(" ", _capabilities))}.");

        // Kerberos sends no password to the server and proves the server (mutual authentication),
        // so it may sign in over plain text; a password (NTLM's too) may not.
        var kerberos = credential == null || (!_settings.UseOAuth2 && ChooseLogin() == CurrentLogon.MechanismName);
        if (!kerberos && !_wire.IsSecure && !_settings.AllowUnencryptedAuthentication)
        {
            throw ConnectErrors.UnencryptedAuthenticationRefused(_settings);
        }

        Exchange("while logging in", true, () => Login(credential));
        _verbose($"Logged in as '{credential?.UserName ?? CurrentLogon.Description}' ({AuthenticationMechanism}).");
    }

    /// <summary>Lists the mailbox: LIST, and UIDL when the server has it.</summary>
    public IReadOnlyList<Pop3Entry> List() => Exchange("while listing the mailbox", false, () =>
    {
        var commands = SupportsUidl ? new[] { "LIST", "UIDL" } : new[] { "LIST" };
        var sizes = new List<string>();
        var uids = new List<string>();
        var uidlRefused = false;
        RunBatch(commands, (i, reply) =>
        {
            if (!reply.IsOk && ResponseCodeError(reply, "list") is { } error)
            {
                throw error;
            }

            if (i == 0)
            {
                Expect(reply, "LIST");
                sizes = _wire.ReadLines(1024, _token);
            }
            else if (reply.IsOk)
            {
                uids = _wire.ReadLines(1024, _token);
            }
            else
            {
                uidlRefused = true;
            }
        });
        if (uidlRefused)
        {
            _capabilities ??= new HashSet<string>(StringComparer.OrdinalIgnoreCase) { "USER", "TOP" };
            _capabilities.Remove("UIDL");
        }

        var uidByNumber = new Dictionary<int, string>();
        foreach (var line in uids)
        {
            var parts = line.Split(Space, 2, StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length == 2 && int.TryParse(parts[0], out var n))
            {
                uidByNumber[n] = parts[1];
            }
        }

        var entries = new List<Pop3Entry>();
        foreach (var line in sizes)
        {
            var parts = line.Split(Space, StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length < 2 || !int.TryParse(parts[0], out var number) || !long.TryParse(parts[1], out var size))
            {
                throw new Pop3ProtocolViolation($"The server's LIST line '{line}' is not '<number> <size>'.");
            }

            entries.Add(new Pop3Entry(number, size, uidByNumber.TryGetValue(number, out var uid) ? uid : null) { AuthenticationMechanism = AuthenticationMechanism });
        }

        return (IReadOnlyList<Pop3Entry>)entries;
    });

    /// <summary>The header blocks of <paramref name="entries"/> (TOP n 0), in order; null for a
    /// message the server refused to show.</summary>
    public IReadOnlyList<byte[]?> ReadHeaders(IReadOnlyList<Pop3Entry> entries) => Exchange("while reading headers", false, () =>
    {
        if (_capabilities != null && !_capabilities.Contains("TOP"))
        {
            throw TopNotSupported(null);
        }

        var result = new byte[]?[entries.Count];
        string? firstRefusal = null;
        RunBatch(entries.Select(e => $"TOP {e.Number} 0").ToList(), (i, reply) =>
        {
            if (!reply.IsOk)
            {
                firstRefusal ??= reply.Line;
                return;
            }

            using var buffer = new MemoryStream();
            _wire.CopyData(buffer, _token);
            result[i] = buffer.ToArray();
        });

        // A server that cannot do TOP refuses it for every message (some even advertise it);
        // one that refuses a single message has a problem with that message only.
        if (entries.Count > 0 && result.All(r => r == null) && !_topWorked)
        {
            throw TopNotSupported(firstRefusal);
        }

        _topWorked |= result.Any(r => r != null);
        return (IReadOnlyList<byte[]?>)result;
    });

    /// <summary>Sends RETR (or TOP n 0 when <paramref name="headersOnly"/>) for every entry and
    /// yields each reply as it arrives, in order: the index, and the server's -ERR line or null.
    /// For +OK the data has been copied into the stream <paramref name="sink"/> gave for that
    /// index before the yield. With PIPELINING a window of commands is kept outstanding, bounded
    /// in count and in the bytes LIST gave for them (at least one), so that neither the server's
    /// backlog nor anything here grows with the mailbox; without it, one command at a time.</summary>
    internal IEnumerable<(int Index, string? Refusal)> Request(IReadOnlyList<Pop3Entry> entries, bool headersOnly, Func<int, Stream> sink)
    {
        if (headersOnly && _capabilities != null && !_capabilities.Contains("TOP"))
        {
            throw TopNotSupported(null);
        }

        var window = Pipelining ? WindowCount : 1;
        var sent = 0;
        long outstandingBytes = 0;
        for (var i = 0; i < entries.Count; i++)
        {
            var entry = entries[i];
            string? refusal = null;
            // The text for an error is made only when one happens: not a string per message.
            Exchange(headersOnly ? ReadingHeadersOf : Downloading, entry.Number, () =>
            {
                // Topped up only when half the window is done: commands go out in a few large
                // writes, not one small write per reply.
                if (sent - i <= window / 2)
                {
                    while (sent < entries.Count && (sent == i || (sent - i < window && (headersOnly || outstandingBytes + entries[sent].Size <= WindowBytes))))
                    {
                        _wire.Send(headersOnly ? $"TOP {entries[sent].Number} 0" : $"RETR {entries[sent].Number}", -1, _token);
                        outstandingBytes += entries[sent].Size;
                        sent++;
                    }
                }

                var reply = _wire.ReadReply(_token);
                outstandingBytes -= entry.Size;
                if (!reply.IsOk)
                {
                    refusal = reply.Line;
                    return;
                }

                _wire.CopyData(sink(i), _token);
            });
            if (headersOnly && refusal == null)
            {
                _topWorked = true;
            }

            yield return (i, refusal);
        }
    }

    /// <summary>True once a TOP succeeded in this session: a later refusal is about one message,
    /// not a server without TOP.</summary>
    internal bool TopWorked => _topWorked;

    internal MailOperationException TopNotSupportedError(string? reply) => TopNotSupported(reply);

    /// <summary>Streams message <paramref name="entry"/> (RETR) into <paramref name="destination"/>.
    /// Returns false, having read nothing, when the server refuses with -ERR (its reply in
    /// <paramref name="refusal"/>); a lost connection throws.</summary>
    public bool Retrieve(Pop3Entry entry, Stream destination, out string? refusal)
    {
        string? refused = null;
        var ok = Exchange($"while downloading message {entry.Number}", false, () =>
        {
            _wire.Send($"RETR {entry.Number}", -1, _token);
            var reply = _wire.ReadReply(_token);
            if (!reply.IsOk)
            {
                refused = reply.Line;
                return false;
            }

            _wire.CopyData(destination, _token);
            return true;
        });
        refusal = refused;
        return ok;
    }

    /// <summary>Marks messages for deletion (DELE); returns the refusals by number. Nothing is
    /// deleted before <see cref="Quit"/>. The highest numbers go first: a server that (against
    /// RFC 1939) renumbers its messages at once on DELE then still deletes the right ones.</summary>
    public IReadOnlyDictionary<int, string> MarkDeleted(IReadOnlyList<Pop3Entry> entries) => Exchange("while marking messages for deletion", false, () =>
    {
        var ordered = entries.OrderByDescending(e => e.Number).ToList();
        var refused = new Dictionary<int, string>();
        RunBatch(ordered.Select(e => $"DELE {e.Number}").ToList(), (i, reply) =>
        {
            if (!reply.IsOk)
            {
                refused[ordered[i].Number] = reply.Line;
            }
        });
        return (IReadOnlyDictionary<int, string>)refused;
    });

    /// <summary>Ends the session with QUIT: the server now deletes the marked messages.</summary>
    public void Quit() => Exchange("at QUIT; no message was deleted", false, () =>
    {
        _wire.Send("QUIT", -1, _token);
        var reply = _wire.ReadReply(_token);
        if (!reply.IsOk)
        {
            throw new MailOperationException("DeleteNotCommitted", MailErrorKind.InvalidOperation, _settings.Endpoint,
                $"The server {_settings.Endpoint} did not complete the session: {reply.Line}. Messages marked for deletion may still be there.");
        }

        return true;
    });

    public void Dispose()
    {
        _wire.Dispose();
        _tap.Dispose();
    }

    private MailOperationException TopNotSupported(string? reply) =>
        new("TopNotSupported", MailErrorKind.NotImplemented, _settings.Endpoint,
            $"The server {_settings.Endpoint} does not support TOP{(reply == null ? "" : $" (it answered '{reply}')")}, so headers cannot be read alone. " +
            "Use -IncludeBody (or -Destination) to download whole messages instead.") { IsSessionFailure = true };

    /// <summary>CAPA; what the server offers is kept for the login and the listing (none: a
    /// server without CAPA), and its lines in <see cref="CapabilityLines"/>.</summary>
    internal void ReadCapabilities()
    {
        _wire.Send("CAPA", -1, _token);
        var reply = _wire.ReadReply(_token);
        if (!reply.IsOk)
        {
            _capabilities = null;
            CapabilityLines = null;
            return;
        }

        _capabilities = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        var lines = _wire.ReadLines(1024, _token);
        CapabilityLines = lines;
        foreach (var line in lines)
        {
            var parts = line.Split(Space, StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length == 0)
            {
                continue;
            }

            _capabilities.Add(parts[0]);
            if (parts[0].Equals("SASL", StringComparison.OrdinalIgnoreCase))
            {
                foreach (var mechanism in parts.Skip(1))
                {
                    _capabilities.Add("SASL:" + mechanism);
                }
            }
        }
    }

    private void NegotiateStls()
    {
        var offered = _capabilities?.Contains("STLS") == true;
        if (!offered)
        {
            if (_settings.TlsMode == TlsMode.StartTls)
            {
                throw ConnectErrors.StartTlsNotOffered(_settings);
            }

            return; // Auto: stay in plain text; credentials are refused below unless allowed.
        }

        var reply = SendStls();
        if (!reply.IsOk)
        {
            throw ConnectErrors.StartTlsFailed(_settings, reply.Line);
        }

        _wire.StartTls(_token);
        ReadCapabilities();
    }

    private void Login(NetworkCredential? credential)
    {
        if (credential == null)
        {
            LoginAsCurrentLogon();
            return;
        }

        var reply = LoginReply(credential, out var mechanism);
        if (!reply.IsOk)
        {
            throw LoginError(reply, mechanism);
        }

        AuthenticationMechanism = mechanism;
    }

    /// <summary>Reads the greeting and keeps its APOP timestamp.</summary>
    internal Pop3Reply ReadGreeting()
    {
        var greeting = _wire.ReadReply(_token);
        var open = greeting.Line.IndexOf('<');
        var close = greeting.Line.IndexOf('>', Math.Max(open, 0));
        _apopTimestamp = open >= 0 && close > open ? greeting.Line.Substring(open, close - open + 1) : null;
        return greeting;
    }

    /// <summary>Sends STLS and returns the server's reply; on +OK the caller starts TLS
    /// (<see cref="StartTls"/>) and asks CAPA again.</summary>
    internal Pop3Reply SendStls()
    {
        _wire.Send("STLS", -1, _token);
        return _wire.ReadReply(_token);
    }

    internal void StartTls() => _wire.StartTls(_token);

    /// <summary>STAT: the server's reply, "+OK count octets" when it answered.</summary>
    internal Pop3Reply Stat()
    {
        _wire.Send("STAT", -1, _token);
        return _wire.ReadReply(_token);
    }

    /// <summary>QUIT, whatever the state: the server's reply.</summary>
    internal Pop3Reply SendQuit()
    {
        _wire.Send("QUIT", -1, _token);
        return _wire.ReadReply(_token);
    }

    /// <summary>Ends the connection as timed out: what waits on it now throws.</summary>
    internal void Abort(string reason) => _wire.Abort(reason);

    /// <summary>The server's CAPA lines as received, or null when it has no CAPA.</summary>
    internal IReadOnlyList<string>? CapabilityLines { get; private set; }

    /// <summary>The logins a password tries when the user chose none, in order.</summary>
    private static readonly string[] PasswordLogins = { "PLAIN", "LOGIN", "USER", "APOP" };

    /// <summary>Signs in with the first mechanism that fits the credentials and what the server
    /// offers (XOAUTH2 for a token, else <see cref="ChooseLogin"/>) and returns the server's final
    /// reply and the mechanism used; throws AuthenticationNotSupported (or, when the user's choice
    /// ruled out what is offered, AuthenticationMechanismNotOffered) when none fits.
    /// No credential: the current logon, with GSSAPI.</summary>
    internal Pop3Reply LoginReply(NetworkCredential? credential, out string mechanism)
    {
        if (credential == null)
        {
            mechanism = CurrentLogon.MechanismName;
            return CurrentLogonReply();
        }

        if (_settings.UseOAuth2)
        {
            mechanism = "XOAUTH2";
            return Sasl(new SaslMechanismOAuth2(credential.UserName, _settings.OAuth2Token(credential, _token)));
        }

        mechanism = ChooseLogin() ?? throw NoLogin();
        Pop3Reply reply;
        switch (mechanism)
        {
            case "USER":
                _wire.Send($"USER {credential.UserName}", -1, _token);
                reply = _wire.ReadReply(_token);
                if (reply.IsOk)
                {
                    _wire.Send($"PASS {credential.Password}", 5, _token);
                    reply = _wire.ReadReply(_token);
                }

                break;
            case "APOP":
                string digest;
                using (var md5 = MD5.Create())
                {
                    digest = BitConverter.ToString(md5.ComputeHash(Encoding.UTF8.GetBytes(_apopTimestamp + credential.Password))).Replace("-", "").ToLowerInvariant();
                }

                _wire.Send($"APOP {credential.UserName} {digest}", 5 + credential.UserName.Length + 1, _token);
                reply = _wire.ReadReply(_token);
                break;
            case CurrentLogon.MechanismName:
                reply = Sasl(CurrentLogon.Mechanism(_settings, CurrentLogon.Pop3Service, credential));
                break;
            case NtlmMechanism.Name:
                reply = Sasl(NtlmMechanism.Create(credential, $"POP/{_settings.Host}", _wire.Tls, _verbose));
                break;
            default:
                reply = Sasl(SaslMechanism.Create(mechanism, credential)!);
                break;
        }

        return reply;
    }

    /// <summary>The login a password uses: the first of the user's choice (or of SASL PLAIN,
    /// LOGIN, USER/PASS, APOP) that the server offers; null when none is.</summary>
    internal string? ChooseLogin() => (_settings.Mechanisms?.Order(PasswordLogins) ?? PasswordLogins).FirstOrDefault(OffersLogin);

    private bool OffersLogin(string name) => name switch
    {
        "USER" => _capabilities == null || _capabilities.Contains("USER"),
        "APOP" => _apopTimestamp != null,
        CurrentLogon.MechanismName => HasSasl(name),
        _ => HasSasl(name) && SaslMechanism.IsSupported(name),
    };

    private MailOperationException NoLogin()
    {
        if (_settings.Mechanisms is { } choice && (choice.Chosen != null || PasswordLogins.Any(OffersLogin)))
        {
            var offered = (_capabilities?.Where(c => c.StartsWith("SASL:", StringComparison.Ordinal)).Select(c => c.Substring(5)) ?? Enumerable.Empty<string>())
                .Concat(new[] { "USER", "APOP" }.Where(OffersLogin));
            return choice.NotOffered(_settings, offered);
        }

        var error = ConnectErrors.AuthenticationNotSupported(_settings, _capabilities == null ? "none" : string.Join(" ", _capabilities));
        var optIn = MechanismChoice.SaslNames.Where(n => n != "XOAUTH2" && OffersLogin(n)).ToList();
        return optIn.Count == 0 ? error : new MailOperationException(error.ErrorId, error.Kind, error.Target,
            $"{error.Message} It offers {string.Join(", ", optIn)}, which POP3 signs in with only when -AuthenticationMechanism names it.")
        { IsSessionFailure = true };
    }

    /// <summary>The error for a refused login (<paramref name="reply"/> is its -ERR), by the
    /// RFC 3206 response code and the sign-in hint table.</summary>
    internal MailOperationException LoginError(Pop3Reply reply, string mechanism)
    {
        var credential = _settings.Credential!;
        return ResponseCodeError(reply, "open") ?? reply.ResponseCode switch
        {
            "LOGIN-DELAY" => new MailOperationException("LoginDelay", MailErrorKind.ResourceBusy, credential.UserName,
                $"{_settings.Endpoint} asks '{credential.UserName}' to wait longer between logins: {reply.Text}") { IsSessionFailure = true },
            _ when mechanism == "XOAUTH2" || reply.ResponseCode == "AUTH" || reply.ResponseCode == null =>
                ConnectErrors.AuthenticationFailed(_settings, credential.UserName, $"{reply.Text} ({mechanism})",
                    AuthenticationHints.ForPop3Reply(reply.Line, mechanism == "XOAUTH2")),
            _ => ConnectErrors.ServerRefused(_settings, reply.Line),
        };
    }

    /// <summary>AUTH GSSAPI with the ticket of the current logon.</summary>
    private void LoginAsCurrentLogon()
    {
        var reply = CurrentLogonReply();
        if (reply.IsOk)
        {
            AuthenticationMechanism = CurrentLogon.MechanismName;
            return;
        }

        throw ResponseCodeError(reply, "open") ?? ConnectErrors.AuthenticationFailed(_settings, CurrentLogon.Description, $"{reply.Text} ({CurrentLogon.MechanismName})");
    }

    /// <summary>AUTH GSSAPI with the ticket of the current logon: the server's last reply,
    /// whatever it is; an error when the server offers no GSSAPI.</summary>
    private Pop3Reply CurrentLogonReply()
    {
        if (!HasSasl(CurrentLogon.MechanismName))
        {
            throw CurrentLogon.NotOffered(_settings, _capabilities?.Where(c => c.StartsWith("SASL:", StringComparison.Ordinal)).Select(c => c.Substring(5)).ToList() ?? new List<string>());
        }

        return Sasl(CurrentLogon.Mechanism(_settings, CurrentLogon.Pop3Service));
    }

    /// <summary>The error that an -ERR reply's RFC 3206 response code names, when it names a
    /// state of the mailbox or server rather than a refusal of the command: [IN-USE], [SYS/TEMP];
    /// null otherwise. <paramref name="action"/> says what could not be done ("open", "list").</summary>
    private MailOperationException? ResponseCodeError(Pop3Reply reply, string action)
    {
        var user = _settings.Credential?.UserName;
        return reply.ResponseCode switch
        {
            "IN-USE" => new MailOperationException("MailboxLocked", MailErrorKind.ResourceBusy, user,
                $"The mailbox of '{user}' on {_settings.Endpoint} is in use by another session ({reply.Text}). " +
                "Wait for the other client to finish, then try again.") { IsSessionFailure = true },
            "SYS/TEMP" => new MailOperationException("ServerTemporaryFailure", MailErrorKind.ResourceUnavailable, _settings.Endpoint,
                $"{_settings.Endpoint} could not {action} the mailbox of '{user}' for now: {reply.Text}") { IsSessionFailure = true },
            _ => null,
        };
    }

    private bool HasSasl(string mechanism) => _capabilities?.Contains("SASL:" + mechanism) == true;

    /// <summary>AUTH with a MailKit SASL mechanism (RFC 5034); every line the client sends after
    /// the mechanism name is a secret and is redacted in the transcript.</summary>
    private Pop3Reply Sasl(SaslMechanism mechanism)
    {
        var command = $"AUTH {mechanism.MechanismName}";
        if (mechanism.SupportsInitialResponse)
        {
            var initial = mechanism.Challenge(null, _token);
            _wire.Send($"{command} {initial}", command.Length + 1, _token);
        }
        else
        {
            _wire.Send(command, -1, _token);
        }

        while (true)
        {
            var reply = _wire.ReadReply(_token);
            if (!reply.IsContinuation)
            {
                return reply;
            }

            // After the last step (e.g. a failed XOAUTH2 reports its error as a challenge), an
            // empty line lets the server finish with -ERR.
            var answer = mechanism.IsAuthenticated ? "" : mechanism.Challenge(reply.Text, _token);
            _wire.Send(answer, 0, _token);
        }
    }

    private static void Expect(Pop3Reply reply, string command)
    {
        if (!reply.IsOk)
        {
            throw new Pop3ProtocolViolation($"The server refused {command}: {reply.Line}");
        }
    }

    /// <summary>Sends commands and handles their replies in order: all at once in batches when
    /// the server has PIPELINING, one at a time otherwise.</summary>
    private void RunBatch(IReadOnlyList<string> commands, Action<int, Pop3Reply> handle)
    {
        var size = Pipelining ? BatchSize : 1;
        for (var first = 0; first < commands.Count; first += size)
        {
            var last = Math.Min(commands.Count, first + size);
            for (var i = first; i < last; i++)
            {
                _wire.Send(commands[i], -1, _token);
            }

            for (var i = first; i < last; i++)
            {
                handle(i, _wire.ReadReply(_token));
            }
        }
    }

    private const string ReadingHeadersOf = "while reading the headers of message {0}";
    private const string Downloading = "while downloading message {0}";

    /// <summary>Runs the work on one message; <paramref name="what"/> is a format for its number.</summary>
    private void Exchange(string what, int number, Action work)
    {
        try
        {
            work();
        }
        catch (Exception ex) when (!(ex is MailOperationException || ex is DestinationWriteException))
        {
            Exchange(string.Format(System.Globalization.CultureInfo.InvariantCulture, what, number), false, () => ExceptionDispatchInfo.Capture(ex).Throw());
        }
    }

    /// <summary>Runs protocol work and maps what can go wrong on the wire to engine errors.</summary>
    private T Exchange<T>(string what, bool sessionPhase, Func<T> work)
    {
        try
        {
            return work();
        }
        catch (Exception ex) when (ex is MailOperationException || ex is DestinationWriteException)
        {
            throw;
        }
        catch (Exception) when (_token.IsCancellationRequested)
        {
            throw new OperationCanceledException(_token);
        }
        catch (Pop3ProtocolViolation ex)
        {
            throw new MailOperationException("ProtocolViolation", MailErrorKind.ProtocolError, _settings.Endpoint,
                $"The server {_settings.Endpoint} broke the POP3 protocol {what}: {ex.Message}", ex) { IsSessionFailure = true };
        }
        catch (Exception ex) when (ex is IOException || ex is System.Net.Sockets.SocketException || ex is ObjectDisposedException || ex is TimeoutException)
        {
            var error = sessionPhase ? ConnectErrors.Unreachable(_settings, ex) : ConnectErrors.Lost(_settings, ex, what);
            throw ConnectErrors.AsSessionFailure(error);
        }
    }

    private void Exchange(string what, bool sessionPhase, Action work) => Exchange(what, sessionPhase, () =>
    {
        work();
        return true;
    });
}
