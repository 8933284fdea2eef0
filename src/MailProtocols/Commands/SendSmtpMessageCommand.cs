using System;
using System.Collections;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Management.Automation;
using System.Net.Mail;
using System.Text;
using MailProtocols.Engine;
using MailProtocols.Engine.Smtp;

namespace MailProtocols.Commands;

/// <summary>
/// Sends mail over SMTP. Accepts every parameter of the built-in Send-MailMessage.
/// Pipeline rule: piped files (FileInfo objects, or strings, taken as paths) are collected and
/// sent as ONE message with all of them attached when the pipeline ends, as Send-MailMessage
/// does; any other piped object is one message, its properties binding To, Subject, Body...
/// by name, sent at once over the command's one connection.
/// </summary>
[Cmdlet(VerbsCommunications.Send, "SmtpMessage", SupportsShouldProcess = true, DefaultParameterSetName = CredentialSet)]
[OutputType("MailProtocols.Engine.Smtp.SmtpSendResult")]
public sealed class SendSmtpMessageCommand : MailConnectionCmdlet
{
    private readonly List<string> _pipedFiles = new();
    private string[]? _commandLineAttachments;
    private SmtpSender? _sender;
    private bool _sendAtEnd;
    private bool _sentPerRecord;
    private bool _pipedFileFailed;
    private bool _warnedCertificate;
    private Pacer? _pacer;
    private int _submitted; // messages handed to the sender, for the pacing progress
    private Dictionary<string, string>? _headers; // -Header binds no pipeline value: the same for every row

    /// <summary>The piped object: a file to attach, or a message whose properties bind the others.</summary>
    [Parameter(ValueFromPipeline = true, DontShow = true)]
    public PSObject? InputObject { get; set; }

    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    public string[] To { get; set; } = Array.Empty<string>();

    [Parameter(Position = 1, ValueFromPipelineByPropertyName = true)]
    [Alias("sub")]
    public string? Subject { get; set; }

    [Parameter(Position = 2, ValueFromPipelineByPropertyName = true)]
    public string? Body { get; set; }

    [Parameter(Position = 3)]
    [Alias("ComputerName")]
    public string? SmtpServer { get; set; }

    [Parameter(Mandatory = true, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    public string From { get; set; } = "";

    [Parameter(ValueFromPipelineByPropertyName = true)]
    public string[]? Cc { get; set; }

    [Parameter(ValueFromPipelineByPropertyName = true)]
    public string[]? Bcc { get; set; }

    [Parameter(ValueFromPipelineByPropertyName = true)]
    public string[]? ReplyTo { get; set; }

    [Parameter]
    [Alias("BAH")]
    public SwitchParameter BodyAsHtml { get; set; }

    [Parameter(ValueFromPipelineByPropertyName = true)]
    public string? HtmlBody { get; set; }

    [Parameter(ValueFromPipelineByPropertyName = true)]
    [Alias("PsPath")]
    public string[]? Attachments { get; set; }

    [Parameter]
    public Hashtable? InlineImage { get; set; }

    [Parameter]
    [Alias("Headers")]
    public Hashtable? Header { get; set; }

    [Parameter(ValueFromPipelineByPropertyName = true)]
    public MailPriority Priority { get; set; } = MailPriority.Normal;

    [Parameter]
    [Alias("DNO")]
    public DeliveryNotificationOptions DeliveryNotificationOption { get; set; } = DeliveryNotificationOptions.None;

    [Parameter]
    [Alias("BE")]
    [EncodingArgumentTransformation]
    [ArgumentCompleter(typeof(EncodingCompleter))]
    public Encoding? Encoding { get; set; }

    [Parameter]
    [ValidateRange(0, 10)]
    public int MaximumRetryCount { get; set; } = 3;

    /// <summary>-TranscriptPath records the message data itself, not only its size.</summary>
    [Parameter]
    public SwitchParameter IncludeDataInTranscript { get; set; }

    [Parameter]
    [ValidateRange(0, 600)]
    public int RetryIntervalSec { get; set; } = 2;

    /// <summary>Spaces the messages of one invocation's pipeline so that about this many start in
    /// a minute (Exchange Online: 30); 0, the default, sends as fast as the server takes them.</summary>
    [Parameter]
    [ValidateRange(0, 6000)]
    public int MaximumMessagesPerMinute { get; set; }

    /// <summary>Signs in as the account the command runs as (its Kerberos ticket), as
    /// Send-MailMessage did; a parameter set of its own, so it conflicts with every other sign-in.
    /// Absent, that sign-in happens only when the server refuses mail without authentication;
    /// -UseDefaultCredentials:$false turns that off.</summary>
    [Parameter(Mandatory = true, ParameterSetName = DefaultCredentialsSet)]
    public SwitchParameter UseDefaultCredentials { get; set; }

    /// <summary>The SASL mechanisms to sign in with, tried in this order (the first the server
    /// offers is used); without it, the strongest offered.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    [ValidateSet("GSSAPI", "NTLM", "SCRAM-SHA-512", "SCRAM-SHA-256", "SCRAM-SHA-1", "DIGEST-MD5", "CRAM-MD5", "PLAIN", "LOGIN", "XOAUTH2")]
    public string[]? AuthenticationMechanism { get; set; }

    /// <summary>Mechanisms never to sign in with, e.g. an NTLM that the relay offers and then refuses.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    [ValidateSet("GSSAPI", "NTLM", "SCRAM-SHA-512", "SCRAM-SHA-256", "SCRAM-SHA-1", "DIGEST-MD5", "CRAM-MD5", "PLAIN", "LOGIN", "XOAUTH2")]
    public string[]? ExcludeAuthenticationMechanism { get; set; }

    protected override string[]? ChosenMechanisms => AuthenticationMechanism;

    protected override string[]? ExcludedMechanisms => ExcludeAuthenticationMechanism;

    protected override void BeginProcessing()
    {
        _commandLineAttachments = Attachments;
        base.BeginProcessing();
    }

    protected override void ProcessRecord()
    {
        var input = InputObject?.BaseObject;
        if (input == null)
        {
            // No pipeline input: one message from the command line, sent at the end.
            _sendAtEnd = true;
            return;
        }

        if (input is FileSystemInfo || input is string)
        {
            if (_sentPerRecord)
            {
                DrainOutcomes();
                WriteError(MixedInputError(input));
                return;
            }

            // Every piped file is resolved, so that each one that cannot be attached gets its own
            // error; the message then goes nowhere, rather than without it.
            _sendAtEnd = true;
            var resolved = input is FileSystemInfo item ? TryResolveItem(item, _pipedFiles) : TryResolveAttachments(new[] { (string)input }, _pipedFiles);
            _pipedFileFailed |= !resolved;
            return;
        }

        if (_pipedFiles.Count > 0 || _pipedFileFailed)
        {
            WriteError(MixedInputError(input));
            return;
        }

        // Piped values of Attachments (a column, a property) belong to this message only.
        _sentPerRecord = true;
        if (_sender?.SessionFailed == true)
        {
            DrainOutcomes();
        }

        if (StoppedBy != null)
        {
            WriteError(NotDoneError("NotSent", InputObject, $"The message to {string.Join(", ", To)} was not sent"));
            return;
        }

        SendOne(Attachments, Array.Empty<string>());
    }

    protected override void EndProcessing()
    {
        if (_sendAtEnd && !_sentPerRecord && !_pipedFileFailed && StoppedBy == null)
        {
            SendOne(_commandLineAttachments, _pipedFiles);
        }

        DrainOutcomes();
        Guard(() => _sender?.Quit());
        if (_pacer != null)
        {
            WriteProgress(new ProgressRecord(PacingActivityId, PacingActivity(), "Done") { RecordType = ProgressRecordType.Completed });
        }
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _sender?.Dispose();
        }

        base.Dispose(disposing);
    }

    private static ErrorRecord MixedInputError(object? target) =>
        new(new InvalidOperationException(
                "Piped files are attachments to one message, and other piped objects are one message each; " +
                "one pipeline cannot mix the two. Pass the files with -Attachments instead."),
            "MixedPipelineInput", ErrorCategory.InvalidArgument, target);

    private void SendOne(IEnumerable<string>? attachmentPaths, IEnumerable<string> resolvedFiles)
    {
        var attachments = new List<string>();
        if (!TryResolveAttachments(attachmentPaths, attachments))
        {
            return;
        }

        attachments.AddRange(resolvedFiles);
        var inline = InlineImage == null ? NoInlineImages : new Dictionary<string, string>();
        if (InlineImage != null)
        {
            foreach (DictionaryEntry entry in InlineImage)
            {
                // An inline image is one file: an empty value or a pattern matching several is an error.
                var path = LanguagePrimitives.ConvertTo<string>(entry.Value) ?? "";
                var resolved = new List<string>();
                if (!TryResolveAttachments(new[] { path }, resolved))
                {
                    return;
                }

                if (resolved.Count != 1)
                {
                    AttachmentError("AttachmentNotFound", ErrorCategory.ObjectNotFound, path,
                        resolved.Count == 0 ? $"the inline image '{entry.Key}' names no file" : $"the inline image '{entry.Key}' matches {resolved.Count} files, not one");
                    return;
                }

                inline[LanguagePrimitives.ConvertTo<string>(entry.Key)] = resolved[0];
            }
        }

        var message = new OutgoingMessage
        {
            From = From,
            To = To,
            Cc = Cc ?? Array.Empty<string>(),
            Bcc = Bcc ?? Array.Empty<string>(),
            ReplyTo = ReplyTo ?? Array.Empty<string>(),
            Subject = Subject,
            TextBody = BodyAsHtml && HtmlBody == null ? null : Body,
            HtmlBody = BodyAsHtml && HtmlBody == null ? Body : HtmlBody,
            BodyEncoding = Encoding,
            Attachments = attachments,
            InlineImages = inline,
            Headers = _headers ??= ToHeaderDictionary(Header),
            Priority = (MessagePriority)(int)Priority,
            DeliveryNotification = (DsnRequest)(int)DeliveryNotificationOption,
        };

        // The same error with -WhatIf as without: there is nowhere to send to.
        var server = ResolveServer();
        if (string.IsNullOrWhiteSpace(server))
        {
            StopWithError(new ErrorRecord(
                new ArgumentException("No SMTP server: give -SmtpServer, or set $PSEmailServer as Send-MailMessage allowed."),
                "NoSmtpServer", ErrorCategory.InvalidArgument, null));
            return;
        }

        PreparedMessage? prepared = null;
        try
        {
            // Composed once: what -WhatIf describes is what is sent.
            prepared = SmtpSender.Prepare(message);
            if (!ShouldProcessOrStop($"{server}:{(Port == 0 ? "default port" : Port.ToString())}", $"Send {prepared.Description}", To))
            {
                return;
            }

            // Made only now: with -WhatIf nothing is opened, not even the transcript file.
            var sender = OpenOrStop(() => GetSender(server!));
            if (sender == null)
            {
                return;
            }

            Pace(sender, server!);
            if (StoppedBy != null)
            {
                // The outcomes read before the turn ended the session (e.g. the daily quota).
                WriteError(NotDoneError("NotSent", InputObject, $"The message to {string.Join(", ", To)} was not sent"));
                return;
            }

            // Outcomes come in the order of the rows, but may come a few rows later than their
            // own; the row is the target of an error about the sender's limits.
            EmitAll(Guard(() => sender.Submit(prepared, InputObject)));
            _submitted++;
        }
        catch (MailOperationException ex)
        {
            // An error about this row comes after the outcomes of the rows before it.
            DrainOutcomes();
            ReportError(ex);
        }
        finally
        {
            prepared?.Dispose();
        }
    }

    private const int PacingActivityId = 1;

    private string PacingActivity() => $"Sending about {MaximumMessagesPerMinute} messages a minute";

    /// <summary>With -MaximumMessagesPerMinute, gives the sender the pacer, which spaces every
    /// attempt (retries included) and shows in progress how many messages were handed to the
    /// server and when the next goes. Before a wait, the results of the messages already handed
    /// over are written; Ctrl+C ends the wait at once. A server that closes the connection while
    /// it is idle in the wait gets a new one for the next message, as at any idle close.</summary>
    private void Pace(SmtpSender sender, string server)
    {
        if (MaximumMessagesPerMinute == 0)
        {
            return;
        }

        if (_pacer == null)
        {
            _pacer = new Pacer(MaximumMessagesPerMinute);
            sender.Pacer = _pacer;
            sender.PacingReport = left => WriteProgress(new ProgressRecord(PacingActivityId, PacingActivity(),
                $"{_submitted} handed to {server}; the next in {Math.Ceiling(left.TotalSeconds):0} s")
            {
                CurrentOperation = $"Next message at {DateTime.Now + left:HH:mm:ss}",
                SecondsRemaining = -1,
            });
        }

        if (_pacer.Wait > TimeSpan.Zero)
        {
            DrainOutcomes();
        }
    }

    /// <summary>Waits for the outcome of every message sent so far and writes them, in order.</summary>
    private void DrainOutcomes()
    {
        if (_sender == null || !_sender.HasPending)
        {
            return;
        }

        EmitAll(Guard(() => _sender.Drain()));
    }

    /// <summary>Writes outcomes in input order. An error that will stop the command
    /// (-ErrorAction Stop) is written last: the results of the messages already sent behind it
    /// are read and written first, so that none is left delivered but unreported. That holds for
    /// the error of a refused recipient too, which comes after its own message's result.</summary>
    private void EmitAll(IReadOnlyList<SmtpOutcome> outcomes)
    {
        for (var i = 0; i < outcomes.Count; i++)
        {
            var outcome = outcomes[i];
            if (outcome.Result != null)
            {
                WriteResult(outcome.Result);
            }

            var errors = outcome.Error != null || outcome.Result!.Rejected.Length > 0;
            if (errors && ErrorStopsCommand())
            {
                var later = outcomes.Skip(i + 1).ToList();
                if (_sender?.HasPending == true)
                {
                    later.AddRange(Guard(() => _sender.Drain()));
                }

                foreach (var result in later.Where(o => o.Result != null))
                {
                    WriteResult(result.Result!);
                }

                // The error below stops the command: the later outcomes were all written above.
                outcomes = outcomes.Take(i + 1).ToList();
            }

            if (outcome.Error != null)
            {
                ReportError(outcome.Error);
                continue;
            }

            foreach (var rejected in outcome.Result!.Rejected)
            {
                WriteError(RecipientRejectedError(rejected, outcome.Result));
            }
        }
    }

    /// <summary>True when writing an error ends the command (-ErrorAction Stop, or
    /// $ErrorActionPreference = 'Stop').</summary>
    private bool ErrorStopsCommand()
    {
        var preference = MyInvocation.BoundParameters.TryGetValue("ErrorAction", out var given)
            ? given
            : SessionState.PSVariable.GetValue("ErrorActionPreference");
        return LanguagePrimitives.TryConvertTo(preference, out ActionPreference action) && action == ActionPreference.Stop;
    }

    private void WriteResult(SmtpSendResult result)
    {
        if (result.CertificateProblem != null && !_warnedCertificate)
        {
            _warnedCertificate = true;
            WriteWarning($"The certificate of {result.SmtpServer}:{result.Port} failed validation ({result.CertificateProblem}). " +
                "TLS was not required and no credentials were sent, so the message went encrypted to a server that was not verified " +
                "(opportunistic TLS). Add -UseSsl to require a verified server.");
        }

        WriteObject(result);
    }

    /// <summary>A partial delivery: the exception carries the result, so that a catch block
    /// knows who already got the message and a retry does not send it to them twice.</summary>
    private static ErrorRecord RecipientRejectedError(SmtpRejectedRecipient rejected, SmtpSendResult result)
    {
        const int Named = 10;
        var delivered = string.Join(", ", result.Accepted.Take(Named)) + (result.Accepted.Length > Named ? $" and {result.Accepted.Length - Named} more" : "");
        var exception = new MailOperationException("RecipientRejected", MailErrorKind.InvalidArgument, rejected.Address,
            $"The server refused the recipient {rejected.Address}: {rejected.StatusCode} {rejected.Response}. " +
            $"The message {result.MessageId} was delivered to the other {result.Accepted.Length} recipient(s): {delivered}.")
        {
            Result = result,
        };
        return new ErrorRecord(exception, "RecipientRejected",
            rejected.IsTransient ? ErrorCategory.ResourceUnavailable : ErrorCategory.InvalidArgument, rejected.Address);
    }

    private string? ResolveServer() =>
        !string.IsNullOrEmpty(SmtpServer) ? SmtpServer : SessionState.PSVariable.GetValue("PSEmailServer") as string;

    /// <summary>The command's one sender, made on first use.</summary>
    private SmtpSender? GetSender(string server)
    {
        if (_sender != null)
        {
            return _sender;
        }

        var settings = CreateSettings(server, SmtpSender.ImplicitTlsPort, SmtpSender.RelayPort, Addresses.Bare(From));
        if (settings == null)
        {
            return null;
        }

        settings.TranscriptIncludesMessageData = IncludeDataInTranscript;

        // The Send-MailMessage rule: on without any sign-in; -UseDefaultCredentials:$false turns it off.
        settings.CurrentLogonWhenRefused = settings.Credential == null && !settings.UseDefaultCredentials &&
            !MyInvocation.BoundParameters.ContainsKey(nameof(UseDefaultCredentials));

        _sender = new SmtpSender(settings, WriteVerbose, CancelToken)
        {
            MaximumRetryCount = MaximumRetryCount,
            RetryInterval = TimeSpan.FromSeconds(RetryIntervalSec),
        };
        return _sender;
    }

    // The engine only reads a message's inline images and headers.
    private static readonly Dictionary<string, string> NoInlineImages = new();

    private static Dictionary<string, string> ToHeaderDictionary(Hashtable? table)
    {
        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        if (table != null)
        {
            foreach (DictionaryEntry entry in table)
            {
                headers[LanguagePrimitives.ConvertTo<string>(entry.Key)] = LanguagePrimitives.ConvertTo<string>(entry.Value) ?? "";
            }
        }

        return headers;
    }

    /// <summary>Resolves attachment paths as Send-MailMessage users expect: a path that names a
    /// file is that file (so "report[1].txt" is not taken for a pattern); otherwise it is a
    /// wildcard pattern, and every file it matches is attached. An empty value (an empty CSV cell)
    /// is no attachment. A pattern that matches nothing, a folder, or a path outside the file
    /// system is an error, and the message is not sent: returns false.</summary>
    private bool TryResolveAttachments(IEnumerable<string>? paths, List<string> into)
    {
        foreach (var path in paths ?? Array.Empty<string>())
        {
            if (string.IsNullOrWhiteSpace(path))
            {
                continue;
            }

            try
            {
                var literal = SessionState.Path.GetUnresolvedProviderPathFromPSPath(path, out var provider, out _);
                if (provider.Name != "FileSystem")
                {
                    return AttachmentError("AttachmentNotFound", ErrorCategory.ObjectNotFound, path, $"'{path}' is not a file-system path");
                }

                if (File.Exists(literal) || Directory.Exists(literal))
                {
                    if (!TryAddFile(literal, path, into))
                    {
                        return false;
                    }

                    continue;
                }

                // A pattern, or an escaped path ([WildcardPattern]::Escape) that names one file.
                var matches = GetResolvedProviderPathFromPSPath(path, out _);
                if (matches.Count == 0)
                {
                    return AttachmentError("AttachmentNotFound", ErrorCategory.ObjectNotFound, path, $"'{path}' matches no file");
                }

                foreach (var match in matches)
                {
                    if (!TryAddFile(match, path, into))
                    {
                        return false;
                    }
                }
            }
            catch (ItemNotFoundException ex)
            {
                return AttachmentError("AttachmentNotFound", ErrorCategory.ObjectNotFound, path, "the file does not exist", ex);
            }
            catch (Exception ex) when (ex is SessionStateException || ex is ProviderInvocationException || ex is NotSupportedException || ex is ArgumentException || ex is IOException)
            {
                return AttachmentError("AttachmentNotFound", ErrorCategory.ObjectNotFound, path, ex.Message, ex);
            }
        }

        return true;
    }

    /// <summary>A piped FileInfo is literal: its name is never read as a pattern.</summary>
    private bool TryResolveItem(FileSystemInfo item, List<string> into)
    {
        item.Refresh();
        if (!item.Exists)
        {
            return AttachmentError("AttachmentNotFound", ErrorCategory.ObjectNotFound, item.FullName, $"the file '{item.FullName}' does not exist");
        }

        return TryAddFile(item.FullName, item.FullName, into);
    }

    private bool TryAddFile(string fullPath, string given, List<string> into)
    {
        if (Directory.Exists(fullPath))
        {
            return AttachmentError("AttachmentIsFolder", ErrorCategory.InvalidArgument, given,
                $"'{fullPath}' is a folder. Attach the files in it (Get-ChildItem -File), or a .zip of it");
        }

        into.Add(fullPath);
        return true;
    }

    private bool AttachmentError(string errorId, ErrorCategory category, string target, string problem, Exception? inner = null)
    {
        DrainOutcomes();
        WriteError(new ErrorRecord(
            new MailOperationException(errorId, category == ErrorCategory.ObjectNotFound ? MailErrorKind.ObjectNotFound : MailErrorKind.InvalidArgument,
                target, $"Cannot attach '{target}': {problem}. The message was not sent.", inner),
            errorId, category, target));
        return false;
    }
}
