# Coexistence with other modules' MailKit/MimeKit: the module loads them in a private
# AssemblyLoadContext, so another MimeKit of another version in the session, loaded before or
# after the module, breaks neither the module nor the other assembly.
Describe 'Dependency isolation' {
    BeforeAll {
        . (Join-Path $PSScriptRoot 'common.ps1')
        $mock = New-MockServer

        # A stand-in for another module's MimeKit: an assembly named MimeKit, of another version.
        $stubDir = (New-Item -ItemType Directory -Path (Join-Path $TestDrive 'othermodule')).FullName
        $stub = Join-Path $stubDir 'MimeKit.dll'
        $project = (New-Item -ItemType Directory -Path (Join-Path $TestDrive 'stubsrc')).FullName
        Set-Content (Join-Path $project 'MimeKit.csproj') @'
<Project Sdk="Microsoft.NET.Sdk">
  <PropertyGroup>
    <TargetFramework>net8.0</TargetFramework>
    <AssemblyName>MimeKit</AssemblyName>
    <Version>3.6.0</Version>
    <AssemblyVersion>3.6.0.0</AssemblyVersion>
  </PropertyGroup>
</Project>
'@
        Set-Content (Join-Path $project 'Marker.cs') 'namespace MimeKit { public static class OtherModuleMarker { public static string Hello() => "other MimeKit 3.6"; } }'
        # Built outside the repository, so that its Directory.Build.props does not apply.
        $null = & dotnet build $project -c Release -o $stubDir -nologo -v q 2>&1
        $stub | Should -Exist

        $child = @'
param($ModulePath, $Stub, $Order, $SmtpPort, $Pop3Port, $Password)
$ErrorActionPreference = 'Stop'
$outcome = [ordered]@{}
# Another binary module's dependencies land in the default load context, as this does.
function Import-Stub { $null = [System.Runtime.Loader.AssemblyLoadContext]::Default.LoadFromAssemblyPath($Stub) }
if ($Order -eq 'StubFirst') { Import-Stub }
Import-Module $ModulePath
$cred = [pscredential]::new('alice', (ConvertTo-SecureString $Password -AsPlainText -Force))
$sent = Send-SmtpMessage -SmtpServer 127.0.0.1 -Port $SmtpPort -SkipCertificateCheck -Credential $cred -From 'iso@example.com' -To 'alice@example.com' -Subject "isolation $Order"
$outcome.Sent = [bool]$sent.MessageId
if ($Order -eq 'StubAfter') { Import-Stub }
$pop = @{ Pop3Server = '127.0.0.1'; Port = $Pop3Port; Credential = $cred; SkipCertificateCheck = $true }
$got = @(Get-Pop3Message @pop -IncludeBody)
$outcome.Subjects = @($got.Subject)
$got | Remove-Pop3Message @pop -Force
$outcome.Left = @(Get-Pop3Message @pop).Count
$outcome.Stub = [MimeKit.OtherModuleMarker]::Hello()
$outcome.DefaultContextMimeKit = @([System.Runtime.Loader.AssemblyLoadContext]::Default.Assemblies | Where-Object { $_.GetName().Name -eq 'MimeKit' } | ForEach-Object { $_.GetName().Version.ToString() })
$outcome.ModuleMimeKit = $got[0].Message.GetType().Assembly.GetName().Version.ToString()
[pscustomobject]$outcome | ConvertTo-Json -Compress
'@
        $childScript = Join-Path $TestDrive 'isolation.ps1'
        Set-Content $childScript $child

        function Invoke-Isolated {
            param([string] $Order)
            $mock.Reset()
            $json = & (Join-Path $PSHOME 'pwsh') -NoProfile -NonInteractive -File $childScript $modulePath $stub $Order $mock.SmtpPort $mock.Pop3Port $mock.Users['alice'] 2>&1
            $text = ($json | Out-String)
            $last = $json | Where-Object { $_ -is [string] -and $_.StartsWith('{') } | Select-Object -Last 1
            if (-not $last) { throw "The child process failed:`n$text" }
            $last | ConvertFrom-Json
        }
    }

    AfterAll {
        $mock.Dispose()
    }

    It 'works when another MimeKit version was loaded before the module, and that one still works' {
        $result = Invoke-Isolated -Order StubFirst
        $result.Sent | Should -BeTrue
        $result.Subjects | Should -Be @('isolation StubFirst')
        $result.Left | Should -Be 0
        $result.Stub | Should -Be 'other MimeKit 3.6'
        $result.DefaultContextMimeKit | Should -Be @('3.6.0.0')
        $result.ModuleMimeKit | Should -Not -Be '3.6.0.0'
    }

    It 'works when another MimeKit version is loaded after the module, and that one still loads' {
        $result = Invoke-Isolated -Order StubAfter
        $result.Sent | Should -BeTrue
        $result.Subjects | Should -Be @('isolation StubAfter')
        $result.Left | Should -Be 0
        $result.Stub | Should -Be 'other MimeKit 3.6'
        $result.DefaultContextMimeKit | Should -Be @('3.6.0.0')
    }
}
