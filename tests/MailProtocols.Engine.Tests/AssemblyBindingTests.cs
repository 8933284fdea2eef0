using System.Reflection;
using Xunit;

namespace MailProtocols.Engine.Tests;

/// <summary>The Windows PowerShell 5.1 build's stand-in for binding redirects (src/MailProtocols/AssemblyBinding.cs).</summary>
public class AssemblyBindingTests
{
    private const string Microsoft = "cc7b13ffcd2ddd51";
    private const string Other = "0123456789abcdef";

    private static AssemblyName Name(string name, string version, string? token = Microsoft, string culture = "neutral") =>
        new($"{name}, Version={version}, Culture={culture}, PublicKeyToken={token ?? "null"}");

    [Fact]
    public void ServesTheShippedFileForAnOlderRequestedVersion()
    {
        var shipped = Name("System.Memory", "4.0.5.0");
        Assert.Same(shipped, AssemblyBinding.Choose(Name("System.Memory", "4.0.1.1"), [], shipped));
    }

    [Fact]
    public void ServesTheExactVersionToo()
    {
        var shipped = Name("System.Buffers", "4.0.5.0");
        Assert.Same(shipped, AssemblyBinding.Choose(Name("System.Buffers", "4.0.5.0"), [], shipped));
    }

    [Fact]
    public void RefusesAShippedFileOlderThanTheRequest()
    {
        Assert.Null(AssemblyBinding.Choose(Name("System.Memory", "4.0.6.0"), [], Name("System.Memory", "4.0.5.0")));
    }

    [Fact]
    public void ReturnsAnAlreadyLoadedAssemblyOfTheNameFirst()
    {
        var loaded = Name("System.Memory", "4.0.5.0");
        var chosen = AssemblyBinding.Choose(Name("System.Memory", "4.0.1.2"), [Name("MailKit", "4.18.0.0", null), loaded], Name("System.Memory", "4.0.5.0"));
        Assert.Same(loaded, chosen);
    }

    [Fact]
    public void PassesOverALoadedAssemblyOlderThanTheRequest()
    {
        var shipped = Name("System.Memory", "4.0.5.0");
        Assert.Same(shipped, AssemblyBinding.Choose(Name("System.Memory", "4.0.1.2"), [Name("System.Memory", "4.0.1.0")], shipped));
    }

    [Fact]
    public void LeavesANameTheModuleDoesNotShipToOthers()
    {
        Assert.Null(AssemblyBinding.Choose(Name("Newtonsoft.Json", "13.0.0.0", Other), [Name("Newtonsoft.Json", "13.0.0.0", Other)], null));
    }

    [Fact]
    public void NeverServesAnotherPublisherOrCulture()
    {
        Assert.Null(AssemblyBinding.Choose(Name("System.Memory", "4.0.1.1", Other), [], Name("System.Memory", "4.0.5.0")));
        Assert.Null(AssemblyBinding.Choose(Name("System.Memory", "4.0.1.1", null), [], Name("System.Memory", "4.0.5.0")));
        Assert.Null(AssemblyBinding.Choose(Name("System.Memory", "4.0.1.1", culture: "de-DE"), [], Name("System.Memory", "4.0.5.0")));
    }

    [Fact]
    public void ServesARequestWithoutVersionByName()
    {
        var shipped = Name("Microsoft.Identity.Client", "4.92.0.0", "0a613f4dd989e8ae");
        Assert.Same(shipped, AssemblyBinding.Choose(new AssemblyName("Microsoft.Identity.Client"), [], shipped));
    }
}
