using System;
using System.Collections;
using System.Collections.Generic;
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
    private HashSet<string> _commandLine = new(StringComparer.OrdinalIgnoreCase);
    private string[]? _commandLineAttachments;
    private SmtpSender? _sender;
    private bool _sendAtEnd;
    private bool _sentPerRecord;

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

    [Parameter]
    [ValidateRange(0, 600)]
    public int RetryIntervalSec { get; set; } = 2;


    protected override void BeginProcessing()
    {
        _commandLine = new HashSet<string>(MyInvocation.BoundParameters.Keys, StringComparer.OrdinalIgnoreCase);
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

        var file = input switch
        {
            System.IO.FileInfo info => info.FullName,
            string path => path,
            _ => null,
        };
        if (file != null)
        {
            if (_sentPerRecord)
            {
                WriteError(MixedInputError(file));
            }
            else if (TryResolveAttachments(new[] { file }, _pipedFiles))
            {
                _sendAtEnd = true;
            }

            return;
        }

        if (_pipedFiles.Count > 0)
        {
            WriteError(MixedInputError(input));
            return;
        }

        // Piped values of Attachments (a column, a property) belong to this message only.
        _sentPerRecord = true;
        SendOne(Attachments, Array.Empty<string>());
    }

    protected override void EndProcessing()
    {
        if (_sendAtEnd && !_sentPerRecord)
        {
            SendOne(_commandLineAttachments, _pipedFiles);
        }

        Guard(() => _sender?.Quit());
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
        var inline = new Dictionary<string, string>();
        if (InlineImage != null)
        {
            foreach (DictionaryEntry entry in InlineImage)
            {
                var resolved = new List<string>();
                if (!TryResolveAttachments(new[] { LanguagePrimitives.ConvertTo<string>(entry.Value) }, resolved))
                {
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
            Headers = ToHeaderDictionary(Header),
            Priority = (MessagePriority)(int)Priority,
            DeliveryNotification = (DsnRequest)(int)DeliveryNotificationOption,
        };

        try
        {
            var description = SmtpSender.Describe(message);
            if (!ShouldProcess(EndpointText(), $"Send {description}"))
            {
                return;
            }

            // Made only now: with -WhatIf nothing is opened, not even the transcript file.
            var sender = GetSender();
            if (sender == null)
            {
                return;
            }

            var result = Guard(() => sender.Send(message));
            foreach (var rejected in result.Rejected)
            {
                WriteError(new ErrorRecord(
                    new MailOperationException("RecipientRejected", MailErrorKind.InvalidArgument, rejected.Address,
                        $"The server refused the recipient {rejected.Address}: {rejected.StatusCode} {rejected.Response}. " +
                        $"The message was delivered to the other {result.Accepted.Length} recipient(s)."),
                    "RecipientRejected", rejected.IsTransient ? ErrorCategory.ResourceUnavailable : ErrorCategory.InvalidArgument,
                    rejected.Address));
            }

            WriteObject(result);
        }
        catch (MailOperationException ex)
        {
            ReportError(ex);
        }
    }

    private string EndpointText() => $"{ResolveServer()}:{(Port == 0 ? "default port" : Port.ToString())}";

    private string? ResolveServer() =>
        !string.IsNullOrEmpty(SmtpServer) ? SmtpServer : SessionState.PSVariable.GetValue("PSEmailServer") as string;

    /// <summary>The command's one sender, made on first use.</summary>
    private SmtpSender? GetSender()
    {
        if (_sender != null)
        {
            return _sender;
        }

        var server = ResolveServer();
        if (string.IsNullOrWhiteSpace(server))
        {
            ThrowTerminatingError(new ErrorRecord(
                new ArgumentException("No SMTP server: give -SmtpServer, or set $PSEmailServer as Send-MailMessage allowed."),
                "NoSmtpServer", ErrorCategory.InvalidArgument, null));
        }

        var settings = CreateSettings(server!, SmtpSender.ImplicitTlsPort, MailboxOf(From));
        _sender = new SmtpSender(settings, WriteVerbose, CancelToken)
        {
            MaximumRetryCount = MaximumRetryCount,
            RetryInterval = TimeSpan.FromSeconds(RetryIntervalSec),
        };
        return _sender;
    }

    /// <summary>The bare address of "Name &lt;a@b&gt;", for the XOAUTH2 user name.</summary>
    private static string MailboxOf(string address)
    {
        var open = address.LastIndexOf('<');
        var close = address.LastIndexOf('>');
        return open >= 0 && close > open ? address.Substring(open + 1, close - open - 1).Trim() : address.Trim();
    }

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

    /// <summary>Resolves PowerShell paths (relative, wildcards, PSPath) to file-system paths;
    /// writes an AttachmentNotFound error and returns false when one does not exist.</summary>
    private bool TryResolveAttachments(IEnumerable<string>? paths, List<string> into)
    {
        foreach (var path in paths ?? Array.Empty<string>())
        {
            try
            {
                var resolved = GetResolvedProviderPathFromPSPath(path, out var provider);
                if (provider.Name != "FileSystem")
                {
                    throw new ItemNotFoundException($"'{path}' is not a file-system path.");
                }

                into.AddRange(resolved);
            }
            catch (Exception ex) when (ex is ItemNotFoundException || ex is DriveNotFoundException || ex is ProviderNotFoundException)
            {
                WriteError(new ErrorRecord(
                    new MailOperationException("AttachmentNotFound", MailErrorKind.ObjectNotFound, path,
                        $"Cannot attach '{path}': the file does not exist. Nothing was sent.", ex),
                    "AttachmentNotFound", ErrorCategory.ObjectNotFound, path));
                return false;
            }
        }

        return true;
    }
}
