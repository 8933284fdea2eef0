#if !NETCOREAPP
namespace System.Runtime.CompilerServices
{
    /// <summary>Lets the compiler emit init-only setters for .NET Framework (Windows PowerShell 5.1).</summary>
    internal static class IsExternalInit
    {
    }
}
#endif
