using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Management.Automation;
using MailProtocols.Engine;
using MailProtocols.Engine.Attachments;
using MailProtocols.Engine.Pop3;

namespace MailProtocols.Commands;

/// <summary>
/// Saves the attachments of messages (from Get-Pop3Message, Import-MailMessage or .eml files)
/// into a folder, under names that are safe by construction, streamed and durable; a re-run
/// writes nothing twice. Outputs one FileInfo per file written.
/// </summary>
[Cmdlet(VerbsData.Save, "MailAttachment", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium, DefaultParameterSetName = MessageSet)]
[OutputType(typeof(FileInfo))]
[OutputType("MailProtocols.Engine.Pop3.Pop3Message")]
public sealed class SaveMailAttachmentCommand : CancellablePSCmdlet
{
    private const string MessageSet = "Message";
    private const string PathSet = "Path";
    private const string LiteralPathSet = "LiteralPath";

    private AttachmentWriter? _writer;
    private WildcardPattern[]? _filters;

    [Parameter(Mandatory = true, ValueFromPipeline = true, ParameterSetName = MessageSet)]
    [ValidateNotNull]
    public Pop3Message[]? InputObject { get; set; }

    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ParameterSetName = PathSet)]
    [ValidateNotNullOrEmpty]
    [SupportsWildcards]
    public string[]? Path { get; set; }

    [Parameter(Mandatory = true, ValueFromPipelineByPropertyName = true, ParameterSetName = LiteralPathSet)]
    [Alias("PSPath", "LP")]
    [ValidateNotNullOrEmpty]
    public string[]? LiteralPath { get; set; }

    [Parameter(Mandatory = true, Position = 1)]
    [ValidateNotNullOrEmpty]
    public string Destination { get; set; } = "";

    [Parameter]
    [ValidateNotNullOrEmpty]
    [SupportsWildcards]
    public string[]? Filter { get; set; }

    [Parameter]
    public SwitchParameter IncludeInline { get; set; }

    [Parameter]
    public SwitchParameter Force { get; set; }

    [Parameter]
    public SwitchParameter PassThru { get; set; }

    protected override void BeginProcessing()
    {
        var folder = GetUnresolvedProviderPathFromPSPath(Destination);
        if (!Directory.Exists(folder))
        {
            StopWithError(new ErrorRecord(new DirectoryNotFoundException($"The destination folder '{folder}' does not exist."),
                "DestinationNotFound", ErrorCategory.ObjectNotFound, Destination));
            return;
        }

        _writer = new AttachmentWriter(folder);
        _filters = Filter?.Select(f => new WildcardPattern(f, WildcardOptions.IgnoreCase | WildcardOptions.CultureInvariant)).ToArray();
    }

    protected override void ProcessRecord()
    {
        if (StoppedBy != null || _writer == null)
        {
            return;
        }

        switch (ParameterSetName)
        {
            case PathSet:
                foreach (var path in Path!)
                {
                    foreach (var file in Resolve(path, literal: false))
                    {
                        SaveFile(file);
                    }
                }

                break;
            case LiteralPathSet:
                foreach (var path in LiteralPath!)
                {
                    foreach (var file in Resolve(path, literal: true))
                    {
                        SaveFile(file);
                    }
                }

                break;
            default:
                foreach (var message in InputObject!)
                {
                    SaveMessage(message);
                }

                break;
        }
    }

    /// <summary>The files a -Path or -LiteralPath names; a path that names none is a
    /// PathNotFound error, and a folder a PathIsFolder error.</summary>
    private List<string> Resolve(string path, bool literal)
    {
        var found = new List<string>();
        try
        {
            if (literal)
            {
                found.Add(GetUnresolvedProviderPathFromPSPath(path));
            }
            else
            {
                found.AddRange(GetResolvedProviderPathFromPSPath(path, out _));
            }
        }
        catch (Exception ex) when (ex is ItemNotFoundException || ex is System.Management.Automation.DriveNotFoundException || ex is ProviderNotFoundException || ex is NotSupportedException)
        {
            WriteError(new ErrorRecord(ex, "PathNotFound", ErrorCategory.ObjectNotFound, path));
            return found;
        }

        var files = new List<string>();
        foreach (var file in found)
        {
            if (Directory.Exists(file))
            {
                // A folder a wildcard happens to match is passed over; one named on its own is an error.
                if (literal || !WildcardPattern.ContainsWildcardCharacters(path))
                {
                    WriteError(new ErrorRecord(new IOException($"'{file}' is a folder, not a message file."), "PathIsFolder", ErrorCategory.InvalidArgument, path));
                    return files;
                }
            }
            else if (File.Exists(file))
            {
                files.Add(file);
            }
        }

        if (files.Count == 0 && !(found.Count == 1 && Directory.Exists(found[0])))
        {
            WriteError(new ErrorRecord(new FileNotFoundException($"'{path}' names no message file."), "PathNotFound", ErrorCategory.ObjectNotFound, path));
        }

        return files;
    }

    private void SaveFile(string file)
    {
        MailAttachmentSource source;
        try
        {
            source = MailAttachmentSource.FromFile(file);
        }
        catch (MailOperationException ex)
        {
            ReportError(ex);
            return;
        }

        using (source)
        {
            var name = System.IO.Path.GetFileName(file);
            var uid = EmlFileName.ToUid(name);
            if (Save(source, uid, file, name) && PassThru)
            {
                WriteObject(new Pop3Message { Uid = uid, SavedPath = file, MessageId = source.MessageId, Subject = source.Subject, Size = new FileInfo(file).Length, HeadersOnly = true });
            }
        }
    }

    private void SaveMessage(Pop3Message message)
    {
        MailAttachmentSource source;
        try
        {
            var held = message.Message == null ? null : MailAttachmentSource.FromMessage(message.Message);
            if (held != null)
            {
                source = held;
            }
            else if (message.SavedPath != null)
            {
                source = MailAttachmentSource.FromFile(message.SavedPath);
            }
            else
            {
                WriteError(new ErrorRecord(
                    new ArgumentException($"Message {message.Uid} was read without its body: get it with Get-Pop3Message -IncludeBody or -Destination."),
                    "MessageBodyNotRead", ErrorCategory.InvalidArgument, message.Uid ?? (object)message));
                return;
            }
        }
        catch (MailOperationException ex)
        {
            ReportError(ex);
            return;
        }

        using (source)
        {
            if (Save(source, message.Uid, message.SavedPath, message.Uid ?? message.SavedPath ?? "") && PassThru)
            {
                WriteObject(message);
            }
        }
    }

    /// <summary>Saves the attachments of one message that pass -Filter and ShouldProcess; true
    /// when every one that passes -Filter is saved (or already was).</summary>
    private bool Save(MailAttachmentSource source, string? uid, string? sourcePath, string described)
    {
        var selected = new List<MailAttachment>();
        var declined = false;
        foreach (var attachment in source.List(IncludeInline))
        {
            if (_filters != null && !_filters.Any(f => f.IsMatch(attachment.FileName)))
            {
                continue;
            }

            var shown = attachment.OriginalName.Length == 0 ? $"an unnamed {attachment.ContentType} part" : $"'{attachment.OriginalName}'";
            if (!ShouldProcessOrStop(_writer!.PathOf(attachment), $"Save the attachment {shown} of message {described}", attachment.FileName))
            {
                if (StoppedBy != null)
                {
                    return false;
                }

                // Not saved (-WhatIf, or the user said no): the message is not done, so -PassThru
                // must not hand it on to a deletion.
                declined = true;
                continue;
            }

            selected.Add(attachment);
        }

        IReadOnlyList<AttachmentOutcome> outcomes;
        try
        {
            outcomes = Guard(() => _writer!.Save(selected, Force, CancelToken));
        }
        catch (MailOperationException ex)
        {
            ReportError(ex);
            return false;
        }

        foreach (var outcome in outcomes)
        {
            if (!outcome.Written)
            {
                WriteVerbose($"Skipped the attachment '{outcome.Attachment.OriginalName}' of message {described}: '{outcome.Path}' already holds the same bytes.");
                continue;
            }

            var file = PSObject.AsPSObject(new FileInfo(outcome.Path));
            file.Properties.Add(new PSNoteProperty("Uid", uid));
            file.Properties.Add(new PSNoteProperty("SourcePath", sourcePath));
            file.Properties.Add(new PSNoteProperty("MessageId", source.MessageId));
            file.Properties.Add(new PSNoteProperty("OriginalName", outcome.Attachment.OriginalName));
            if (!PassThru)
            {
                WriteObject(file);
            }
        }

        return !declined;
    }
}
