# Coexistence with other modules' copies of our dependencies (MimeKit, MSAL): the module loads
# them in a private AssemblyLoadContext, so another version of one in the session, loaded before or
# after the module, breaks neither the module nor the other assembly.
BeforeAll {
    function New-StandIn {
        # Another module's copy of a dependency: an assembly of that name and another version,
        # with one marker type (<Name>.OtherModuleMarker) to show it still works. Built outside
        # the repository, so that its Directory.Build.props does not apply.
        param([string] $Name, [version] $Version)
        $project = (New-Item -ItemType Directory -Path (Join-Path $TestDrive "standin-src-$Name")).FullName
        $output = (New-Item -ItemType Directory -Path (Join-Path $TestDrive "standin-$Name")).FullName
        Set-Content (Join-Path $project "$Name.csproj") @"
<Project Sdk="Microsoft.NET.Sdk">
  <PropertyGroup>
    <TargetFramework>net8.0</TargetFramework>
    <AssemblyName>$Name</AssemblyName>
    <Version>$Version</Version>
    <AssemblyVersion>$Version.0</AssemblyVersion>
  </PropertyGroup>
</Project>
"@
        Set-Content (Join-Path $project 'Marker.cs') "namespace $Name { public static class OtherModuleMarker { public static string Hello() => `"other $Name $Version`"; } }"
        $null = & dotnet build $project -c Release -o $output -nologo -v q 2>&1
        $dll = Join-Path $output "$Name.dll"
        $dll | Should -Exist
        $dll
    }
}

Describe 'Dependency isolation' {
    BeforeAll {
        . (Join-Path $PSScriptRoot 'common.ps1')
        $mock = New-MockServer

        # A stand-in for another module's MimeKit, of another version.
        $stub = New-StandIn -Name MimeKit -Version 3.6.0

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
        $result.Stub | Should -Be 'other MimeKit 3.6.0'
        $result.DefaultContextMimeKit | Should -Be @('3.6.0.0')
        $result.ModuleMimeKit | Should -Not -Be '3.6.0.0'
    }

    It 'works when another MimeKit version is loaded after the module, and that one still loads' {
        $result = Invoke-Isolated -Order StubAfter
        $result.Sent | Should -BeTrue
        $result.Subjects | Should -Be @('isolation StubAfter')
        $result.Left | Should -Be 0
        $result.Stub | Should -Be 'other MimeKit 3.6.0'
        $result.DefaultContextMimeKit | Should -Be @('3.6.0.0')
    }

    It 'resolves the engine''s dependencies through its deps.json, as .NET does for this runtime' {
        # The built module: here (not Windows) the RID-agnostic System.Security.Cryptography.Pkcs,
        # never the Windows build under runtimes/win. A copy whose deps.json adds an asset for
        # this machine's RID must load that one instead: the load context follows the deps.json,
        # not merely the folder.
        $rid = [System.Runtime.InteropServices.RuntimeInformation]::RuntimeIdentifier
        $copy = Join-Path $TestDrive 'ridcopy'
        Copy-Item (Split-Path $modulePath) $copy -Recurse
        $dependencies = Join-Path $copy 'core/dependencies'
        $ridAsset = "runtimes/$rid/lib/net8.0/System.Security.Cryptography.Pkcs.dll"
        $null = New-Item -ItemType Directory -Path (Join-Path $dependencies (Split-Path $ridAsset))
        Copy-Item (Join-Path $dependencies 'System.Security.Cryptography.Pkcs.dll') (Join-Path $dependencies $ridAsset)
        $depsPath = Join-Path $dependencies 'MailProtocols.Engine.deps.json'
        $deps = Get-Content $depsPath -Raw | ConvertFrom-Json -AsHashtable
        $libraries = $deps.targets[$deps.runtimeTarget.name]
        $pkcs = @($libraries.Keys | Where-Object { $_ -like 'System.Security.Cryptography.Pkcs/*' })
        $pkcs.Count | Should -Be 1
        $library = $libraries[$pkcs[0]]
        if (-not $library.Contains('runtimeTargets')) { $library.runtimeTargets = [ordered]@{} }
        $library.runtimeTargets[$ridAsset] = @{ rid = $rid; assetType = 'runtime' }
        $deps | ConvertTo-Json -Depth 20 | Set-Content $depsPath

        $probe = @'
param($ModulePath, $Port)
$ErrorActionPreference = 'Stop'
Import-Module $ModulePath
# A command that reaches the engine (and MimeKit) once, as a user's first command does.
Send-SmtpMessage -SmtpServer 127.0.0.1 -Port $Port -From 'not an address' -To 'x@example.com' -ErrorAction SilentlyContinue
$context = [System.Runtime.Loader.AssemblyLoadContext]::All | Where-Object Name -eq 'MailProtocols'
$context.LoadFromAssemblyName([Reflection.AssemblyName]'System.Security.Cryptography.Pkcs').Location
'@
        $probeScript = Join-Path $TestDrive 'pkcs.ps1'
        Set-Content $probeScript $probe
        $pwsh = Join-Path $PSHOME 'pwsh'
        $built = & $pwsh -NoProfile -NonInteractive -File $probeScript $modulePath $mock.SmtpPort
        $LASTEXITCODE | Should -Be 0
        $built | Select-Object -Last 1 | Should -Be (Join-Path (Split-Path $modulePath) 'core/dependencies/System.Security.Cryptography.Pkcs.dll')
        $ridSpecific = & $pwsh -NoProfile -NonInteractive -File $probeScript (Join-Path $copy 'MailProtocols.psd1') $mock.SmtpPort
        $LASTEXITCODE | Should -Be 0
        $ridSpecific | Select-Object -Last 1 | Should -Be (Join-Path $dependencies $ridAsset)
    }

    It 'takes its load-context handler away on Remove-Module, once no runspace has the module, and back on Import-Module' {
        # Observed through what the handler does: while the module is imported, the default load
        # context finds MailProtocols.Engine by name (through the handler); once it is removed
        # everywhere, it does not.
        $lifecycle = @'
param($ModulePath)
$ErrorActionPreference = 'Stop'
function Test-Engine {
    try { $null = [System.Runtime.Loader.AssemblyLoadContext]::Default.LoadFromAssemblyName([Reflection.AssemblyName]'MailProtocols.Engine'); $true }
    catch { $false }
}
$seen = [ordered]@{}
Import-Module $ModulePath
Send-SmtpMessage -SmtpServer 127.0.0.1 -From 'not an address' -To 'x@example.com' -ErrorAction SilentlyContinue -ErrorVariable ev
$seen.Imported = Test-Engine
$seen.FirstError = $ev[0].FullyQualifiedErrorId
Remove-Module MailProtocols
$seen.Removed = Test-Engine
Import-Module $ModulePath
$seen.Reimported = Test-Engine
Send-SmtpMessage -SmtpServer 127.0.0.1 -From 'not an address' -To 'x@example.com' -ErrorAction SilentlyContinue -ErrorVariable ev
$seen.ReimportedError = $ev[0].FullyQualifiedErrorId
# A second runspace imports it too: removing it here must not break that one.
$other = [powershell]::Create()
$null = $other.AddScript("Import-Module '$ModulePath'").Invoke()
Remove-Module MailProtocols
$seen.RemovedHereOnly = Test-Engine
$other.Commands.Clear()
$null = $other.AddScript('Remove-Module MailProtocols').Invoke()
$seen.RemovedEverywhere = Test-Engine
[pscustomobject]$seen | ConvertTo-Json -Compress
'@
        $lifecycleScript = Join-Path $TestDrive 'lifecycle.ps1'
        Set-Content $lifecycleScript $lifecycle
        $json = & (Join-Path $PSHOME 'pwsh') -NoProfile -NonInteractive -File $lifecycleScript $modulePath
        $LASTEXITCODE | Should -Be 0
        $seen = $json | Select-Object -Last 1 | ConvertFrom-Json
        $seen.Imported | Should -BeTrue
        $seen.FirstError | Should -Be 'InvalidAddress,MailProtocols.Commands.SendSmtpMessageCommand'
        $seen.Removed | Should -BeFalse
        $seen.Reimported | Should -BeTrue
        $seen.ReimportedError | Should -Be 'InvalidAddress,MailProtocols.Commands.SendSmtpMessageCommand'
        $seen.RemovedHereOnly | Should -BeTrue
        $seen.RemovedEverywhere | Should -BeFalse
    }
}

# The same for MSAL (Microsoft.Identity.Client) and Microsoft.IdentityModel.Abstractions, which
# ExchangeOnlineManagement, Az.Accounts and Microsoft.Graph load in their own versions: an app-only
# sign-in works beside stand-ins of other versions loaded before or after the module, and the
# stand-ins keep working.
Describe 'MSAL isolation' {
    BeforeAll {
        . (Join-Path $PSScriptRoot 'common.ps1')
        $authority = [MockMail.TestCertificates]::CreateAuthority('MailProtocols Isolation CA')
        $now = [DateTimeOffset]::UtcNow
        $serverCertificate = [MockMail.TestCertificates]::CreateServerCertificate($authority, 'localhost', $now.AddDays(-1), $now.AddDays(30))
        $caBundle = Join-Path $TestDrive 'msal-ca.pem'
        Set-Content -Path $caBundle -Value ([MockMail.TestCertificates]::ToPem($authority)) -NoNewline
        $entra = [MockMail.MockEntra]::new($serverCertificate)
        $entra.Start()
        $secret = 'Isolation~Secret_1'
        $entra.AddApp('contoso', 'app-iso', $secret, [string[]]@('reports@contoso.com'))
        $mock = [MockMail.MockServer]::new()
        $mock.UseCertificate($serverCertificate)
        $mock.Entra = $entra
        $mock.Start()

        # Stand-ins for MSAL and for the Microsoft.IdentityModel.Abstractions it references, which
        # Az.Accounts and Microsoft.Graph also ship in versions of their own.
        $stubs = (New-StandIn -Name Microsoft.Identity.Client -Version 4.50.0), (New-StandIn -Name Microsoft.IdentityModel.Abstractions -Version 6.22.0)

        $child = @'
param($ModulePath, $Stubs, $Order, $SmtpPort, $Authority, $Secret)
$ErrorActionPreference = 'Stop'
$outcome = [ordered]@{}
function Import-Stub { foreach ($s in $Stubs -split ';') { $null = [System.Runtime.Loader.AssemblyLoadContext]::Default.LoadFromAssemblyPath($s) } }
function Get-Versions($Context, $Name) { @($Context.Assemblies | Where-Object { $_.GetName().Name -eq $Name } | ForEach-Object { $_.GetName().Version.ToString() }) }
if ($Order -eq 'StubFirst') { Import-Stub }
Import-Module $ModulePath
$app = @{ TenantId = 'contoso'; ClientId = 'app-iso'; ClientSecret = (ConvertTo-SecureString $Secret -AsPlainText -Force); Authority = $Authority }
$sent = Send-SmtpMessage -SmtpServer localhost -Port $SmtpPort @app -From 'reports@contoso.com' -To 'a@example.com' -Subject "msal $Order"
if ($Order -eq 'StubAfter') { Import-Stub }
$sent = $sent, (Send-SmtpMessage -SmtpServer localhost -Port $SmtpPort @app -From 'reports@contoso.com' -To 'b@example.com' -Subject "msal $Order again")
$outcome.Sent = @($sent | ForEach-Object { $_.Accepted -join ',' })
$outcome.Stubs = @([Microsoft.Identity.Client.OtherModuleMarker]::Hello(), [Microsoft.IdentityModel.Abstractions.OtherModuleMarker]::Hello())
$default = [System.Runtime.Loader.AssemblyLoadContext]::Default
$module = [System.Runtime.Loader.AssemblyLoadContext]::All | Where-Object Name -EQ 'MailProtocols'
$outcome.DefaultContext = @(Get-Versions $default Microsoft.Identity.Client) + @(Get-Versions $default Microsoft.IdentityModel.Abstractions)
$outcome.ModuleContext = @(Get-Versions $module Microsoft.Identity.Client) + @(Get-Versions $module Microsoft.IdentityModel.Abstractions)
[pscustomobject]$outcome | ConvertTo-Json -Compress
'@
        $childScript = Join-Path $TestDrive 'msal-isolation.ps1'
        Set-Content $childScript $child

        function Invoke-MsalIsolated {
            param([string] $Order)
            $saved = $env:SSL_CERT_FILE
            try {
                # The child trusts the test CA as the system's trust store (OpenSSL's SSL_CERT_FILE).
                $env:SSL_CERT_FILE = $caBundle
                $json = & (Join-Path $PSHOME 'pwsh') -NoProfile -NonInteractive -File $childScript $modulePath ($stubs -join ';') $Order $mock.SmtpPort $entra.Authority $secret 2>&1
            }
            finally { $env:SSL_CERT_FILE = $saved }
            $last = $json | Where-Object { $_ -is [string] -and $_.StartsWith('{') } | Select-Object -Last 1
            if (-not $last) { throw "The child process failed:`n$($json | Out-String)" }
            $last | ConvertFrom-Json
        }
    }

    AfterAll {
        $mock.Dispose()
        $entra.Dispose()
    }

    It 'gets a token and sends beside other MSAL and Abstractions versions loaded <When> the module' -ForEach @(
        @{ Order = 'StubFirst'; When = 'before' }
        @{ Order = 'StubAfter'; When = 'after' }
    ) {
        $before = @($entra.Requests).Count
        $result = Invoke-MsalIsolated -Order $Order
        $result.Sent | Should -Be @('a@example.com', 'b@example.com')
        @($entra.Requests).Count - $before | Should -Be 1 -Because 'the token of the first send is reused by the second'
        $result.Stubs | Should -Be @('other Microsoft.Identity.Client 4.50.0', 'other Microsoft.IdentityModel.Abstractions 6.22.0')
        $result.DefaultContext | Should -Be @('4.50.0.0', '6.22.0.0')
        $result.ModuleContext | Should -Be @('4.92.0.0', '8.14.0.0') -Because 'the module signs in with its own MSAL and the Abstractions that MSAL references'
    }
}
