using System;
using System.Collections.ObjectModel;
using System.IO;
using System.Linq;
using System.Management.Automation;
using MailProtocols.Engine;
using MailProtocols.Engine.Pop3;

namespace MailProtocols.Commands;

/// <summary>
/// Reads saved .eml files (those Get-Pop3Message -Destination writes, or any others) into the
/// objects Get-Pop3Message -IncludeBody gives, with SavedPath set and the UID recovered from a
/// name -Destination gave. Only the headers are read here; bodies and attachment names come
/// from the file when first asked for, so a folder of thousands sorts and filters quickly.
/// </summary>
[Cmdlet(VerbsData.Import, "MailMessage", DefaultParameterSetName = PathSet)]
[OutputType("MailProtocols.Engine.Pop3.Pop3Message")]
public sealed class ImportMailMessageCommand : CancellablePSCmdlet
{
    private const string PathSet = "Path";
    private const string LiteralPathSet = "LiteralPath";

    private readonly MailFileReader _reader = new();
    private bool _namedOnCommandLine;

    [Parameter(Mandatory = true, Position = 0, ParameterSetName = PathSet, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [SupportsWildcards]
    [ValidateNotNullOrEmpty]
    public string[] Path { get; set; } = Array.Empty<string>();

    [Parameter(Mandatory = true, ParameterSetName = LiteralPathSet, ValueFromPipelineByPropertyName = true)]
    [Alias("PSPath", "LP")]
    [ValidateNotNullOrEmpty]
    public string[] LiteralPath { get; set; } = Array.Empty<string>();

    protected override void BeginProcessing()
    {
        // Only now are the bound parameters those of the command line alone.
        _namedOnCommandLine = MyInvocation.BoundParameters.ContainsKey(nameof(Path)) || MyInvocation.BoundParameters.ContainsKey(nameof(LiteralPath));
    }

    protected override void ProcessRecord()
    {
        switch (ParameterSetName)
        {
            case LiteralPathSet:
                foreach (var path in LiteralPath)
                {
                    ImportLiteral(path);
                }

                break;
            default:
                foreach (var path in Path)
                {
                    ImportPattern(path);
                }

                break;
        }
    }

    private void ImportPattern(string pattern)
    {
        Collection<string> found;
        ProviderInfo provider;
        try
        {
            found = SessionState.Path.GetResolvedProviderPathFromPSPath(pattern, out provider);
        }
        catch (Exception ex) when (ex is ItemNotFoundException || ex is System.Management.Automation.DriveNotFoundException || ex is ProviderNotFoundException)
        {
            WriteError(PathNotFound(pattern, ex));
            return;
        }

        if (!IsFileSystem(provider, pattern))
        {
            return;
        }

        if (found.Count == 0)
        {
            WriteError(PathNotFound(pattern, null));
            return;
        }

        // A folder a wildcard matched is passed over, as Get-ChildItem does not descend either.
        var wildcard = WildcardPattern.ContainsWildcardCharacters(pattern);
        foreach (var path in found)
        {
            ImportItem(path, expandFolder: !wildcard && _namedOnCommandLine);
        }
    }

    private void ImportLiteral(string literal)
    {
        string path;
        ProviderInfo provider;
        try
        {
            path = SessionState.Path.GetUnresolvedProviderPathFromPSPath(literal, out provider, out _);
        }
        catch (Exception ex) when (ex is System.Management.Automation.DriveNotFoundException || ex is ProviderNotFoundException || ex is NotSupportedException)
        {
            WriteError(PathNotFound(literal, ex));
            return;
        }

        if (!IsFileSystem(provider, literal))
        {
            return;
        }

        if (!File.Exists(path) && !Directory.Exists(path))
        {
            WriteError(PathNotFound(literal, null));
            return;
        }

        ImportItem(path, expandFolder: _namedOnCommandLine);
    }

    /// <summary>Imports a file, or the .eml files of a folder named on the command line. A folder
    /// from the pipeline is passed over: Get-ChildItem -Recurse lists its files as well.</summary>
    private void ImportItem(string path, bool expandFolder)
    {
        if (!Directory.Exists(path))
        {
            ImportFile(path);
            return;
        }

        if (!expandFolder)
        {
            WriteVerbose($"Passed over the folder '{path}': name it on the command line to import the .eml files in it.");
            return;
        }

        string[] files;
        try
        {
            files = Directory.GetFiles(path)
                .Where(f => f.EndsWith(".eml", StringComparison.OrdinalIgnoreCase))
                .OrderBy(f => f, StringComparer.Ordinal)
                .ToArray();
        }
        catch (Exception ex) when (ex is IOException || ex is UnauthorizedAccessException)
        {
            WriteError(new ErrorRecord(new IOException($"Cannot list the folder '{path}': {ex.Message}", ex), "FileReadFailed", ErrorCategory.ReadError, path));
            return;
        }

        WriteVerbose($"Importing the {files.Length} .eml file(s) in '{path}'.");
        foreach (var file in files)
        {
            ImportFile(file);
        }
    }

    private void ImportFile(string path)
    {
        Pop3Message message;
        try
        {
            message = _reader.Read(path);
        }
        catch (MailOperationException ex)
        {
            WriteError(ToErrorRecord(ex));
            return;
        }

        WriteObject(message);
    }

    private bool IsFileSystem(ProviderInfo provider, string path)
    {
        if (provider.ImplementingType == typeof(Microsoft.PowerShell.Commands.FileSystemProvider))
        {
            return true;
        }

        WriteError(new ErrorRecord(new ArgumentException($"'{path}' is a path of the {provider.Name} provider; only files can be imported."),
            "NotAFileSystemPath", ErrorCategory.InvalidArgument, path));
        return false;
    }

    private static ErrorRecord PathNotFound(string path, Exception? cause) =>
        new(new ItemNotFoundException($"No file matches the path '{path}'.", cause), "PathNotFound", ErrorCategory.ObjectNotFound, path);
}
