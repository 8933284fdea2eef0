using System;
using System.Collections;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Management.Automation;
using System.Management.Automation.Language;
using System.Text;

namespace MailProtocols;

/// <summary>Lets -Encoding take a name ("utf8", "ascii", "latin1"...), a code page number or an
/// Encoding object, as Send-MailMessage's -Encoding does, with the same names.</summary>
public sealed class EncodingArgumentTransformationAttribute : ArgumentTransformationAttribute
{
    internal static readonly IReadOnlyDictionary<string, Func<Encoding>> Names = new Dictionary<string, Func<Encoding>>(StringComparer.OrdinalIgnoreCase)
    {
        ["utf8"] = () => new UTF8Encoding(false),
        ["utf8NoBOM"] = () => new UTF8Encoding(false),
        ["utf8BOM"] = () => new UTF8Encoding(false),
        ["ascii"] = () => Encoding.ASCII,
        ["unicode"] = () => Encoding.Unicode,
        ["bigendianunicode"] = () => Encoding.BigEndianUnicode,
        ["utf32"] = () => Encoding.UTF32,
        ["bigendianutf32"] = () => new UTF32Encoding(bigEndian: true, byteOrderMark: true),
        ["latin1"] = () => Encoding.GetEncoding(28591),
        ["ansi"] = () => Encoding.GetEncoding(CultureInfo.CurrentCulture.TextInfo.ANSICodePage),
        ["oem"] = () => Encoding.GetEncoding(CultureInfo.CurrentCulture.TextInfo.OEMCodePage),
#pragma warning disable SYSLIB0001 // obsolete in .NET, but Send-MailMessage accepts it and scripts pass it
        ["utf7"] = () => new UTF7Encoding(),
#pragma warning restore SYSLIB0001
        ["default"] = () => new UTF8Encoding(false),
    };

    public override object Transform(EngineIntrinsics engineIntrinsics, object inputData)
    {
        var value = inputData is PSObject pso ? pso.BaseObject : inputData;
        try
        {
            return value switch
            {
                Encoding encoding => encoding,
                int codePage => Encoding.GetEncoding(codePage),
                string name when Names.TryGetValue(name, out var make) => make(),
                string name => Encoding.GetEncoding(name),
                _ => throw new ArgumentTransformationMetadataException($"'{value}' is not an encoding."),
            };
        }
        catch (ArgumentException ex)
        {
            throw new ArgumentTransformationMetadataException(
                $"'{value}' is not an encoding name or code page this system knows. Try one of: {string.Join(", ", Names.Keys)}.", ex);
        }
    }
}

/// <summary>Tab completion of the encoding names.</summary>
public sealed class EncodingCompleter : IArgumentCompleter
{
    public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete,
        CommandAst commandAst, IDictionary fakeBoundParameters) =>
        EncodingArgumentTransformationAttribute.Names.Keys
            .Where(n => n.StartsWith(wordToComplete ?? "", StringComparison.OrdinalIgnoreCase))
            .Select(n => new CompletionResult(n));
}
