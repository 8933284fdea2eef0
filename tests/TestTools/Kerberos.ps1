# Dot-sourced by the Kerberos tests: a throwaway MIT Kerberos realm in a temporary folder. Nothing
# under /etc is read or written: every tool and every child process gets KRB5_CONFIG and
# KRB5_KDC_PROFILE pointing at this realm's own files.
#
#   $realm = New-KerberosRealm            # throws with the reason when it cannot be set up
#   ... $realm.Environment (KRB5_CONFIG, KRB5CCNAME, ...) for a child that signs in ...
#   Remove-KerberosRealm $realm

$script:KerberosTools = 'krb5kdc', 'kdb5_util', 'kadmin.local', 'kinit', 'klist'

function Install-KerberosPackage {
    # Installs the MIT KDC, kadmin.local (krb5-admin-server) and the client tools with apt-get
    # when they are missing (CI runs as root on a fresh Debian machine). Returns $null when the
    # tools are there, else why they are not.
    $missing = @($script:KerberosTools | Where-Object { -not (Get-KerberosTool $_) })
    if ($missing.Count -eq 0) { return $null }
    if (-not $IsLinux -or -not (Get-Command apt-get -ErrorAction SilentlyContinue)) {
        return "the MIT Kerberos tools ($($missing -join ', ')) are missing and there is no apt-get to install them"
    }
    if ((id -u) -ne '0') { return "the MIT Kerberos tools ($($missing -join ', ')) are missing and installing them needs root" }

    $log = Join-Path ([IO.Path]::GetTempPath()) "kerberos-apt-$([guid]::NewGuid().ToString('n')).log"
    $env:DEBIAN_FRONTEND = 'noninteractive'
    # Another apt-get on the machine holds the lock for a while; wait for it rather than fail.
    $install = { apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=300 krb5-kdc krb5-admin-server krb5-user *>> $log; $LASTEXITCODE }
    if ((& $install) -ne 0) {
        apt-get update -q -o DPkg::Lock::Timeout=300 *>> $log
        $null = & $install
    }
    $missing = @($script:KerberosTools | Where-Object { -not (Get-KerberosTool $_) })
    if ($missing.Count -eq 0) { Remove-Item $log -ErrorAction SilentlyContinue; return $null }
    $tail = (Get-Content $log -Tail 5 -ErrorAction SilentlyContinue) -join ' / '
    Remove-Item $log -ErrorAction SilentlyContinue
    "apt-get could not install krb5-kdc, krb5-admin-server and krb5-user ($($missing -join ', ') still missing): $tail"
}

function Get-KerberosTool {
    # krb5kdc and kdb5_util live in /usr/sbin, which a non-login PATH may lack.
    param([string] $Name)
    $command = Get-Command $Name -CommandType Application -ErrorAction SilentlyContinue | Select-Object -First 1
    if ($command) { return $command.Source }
    foreach ($dir in '/usr/sbin', '/sbin', '/usr/bin') {
        if (Test-Path (Join-Path $dir $Name)) { return (Join-Path $dir $Name) }
    }
}

function Invoke-KerberosTool {
    # Runs one tool of the realm with the realm's environment; throws with its output on failure.
    param($Realm, [string] $Name, [string[]] $Arguments)
    $start = [Diagnostics.ProcessStartInfo]::new((Get-KerberosTool $Name))
    foreach ($a in $Arguments) { $start.ArgumentList.Add($a) }
    $start.UseShellExecute = $false
    $start.RedirectStandardOutput = $true
    $start.RedirectStandardError = $true
    $start.RedirectStandardInput = $true
    foreach ($k in $Realm.Environment.Keys) { $start.Environment[$k] = $Realm.Environment[$k] }
    $process = [Diagnostics.Process]::Start($start)
    $process.StandardInput.Close()
    $stdout = $process.StandardOutput.ReadToEndAsync()
    $stderr = $process.StandardError.ReadToEndAsync()
    if (-not $process.WaitForExit(60000)) { $process.Kill($true); throw "$Name $Arguments did not end within 60 s." }
    if ($process.ExitCode -ne 0) { throw "$Name $Arguments failed ($($process.ExitCode)): $($stdout.Result) $($stderr.Result)" }
    $stdout.Result
}

function New-KerberosRealm {
    # Makes the realm MAILTEST.INVALID: its database, the service principals smtp/localhost and
    # pop/localhost in Service.keytab, the client principal in its own keytab, a KDC on a free
    # loopback port, and the client's ticket in a private credential cache. Returns what a test
    # needs; SetupSeconds says how long it took (package install included).
    param([string[]] $ServicePrincipal = @('smtp/localhost', 'pop/localhost'), [string] $Client = 'alice')
    $watch = [Diagnostics.Stopwatch]::StartNew()
    $why = Install-KerberosPackage
    if ($why) { throw "No Kerberos realm for the tests: $why." }
    $installSeconds = $watch.Elapsed.TotalSeconds

    $dir = Join-Path ([IO.Path]::GetTempPath()) "krb5-realm-$([guid]::NewGuid().ToString('n'))"
    $null = New-Item -ItemType Directory $dir
    $name = 'MAILTEST.INVALID'
    $realm = [pscustomobject]@{
        Name            = $name
        Directory       = $dir
        Port            = 0
        Process         = $null
        ServiceKeytab   = Join-Path $dir 'Service.keytab'
        ClientKeytab    = Join-Path $dir 'Client.keytab'
        ClientPrincipal = "$Client@$name"
        CredentialCache = Join-Path $dir 'ccache'
        Environment     = [ordered]@{
            KRB5_CONFIG      = Join-Path $dir 'krb5.conf'
            KRB5_KDC_PROFILE = Join-Path $dir 'kdc.conf'
            KRB5CCNAME       = 'FILE:' + (Join-Path $dir 'ccache')
            KRB5RCACHETYPE   = 'none'
        }
        InstallSeconds  = $installSeconds
        SetupSeconds    = 0
    }
    try {
        # krb5kdc binds the port for UDP and TCP; a port free for TCP may be taken for UDP, so a
        # few tries.
        for ($try = 1; $try -le 3 -and -not $realm.Process; $try++) {
            $realm.Port = Get-FreeTcpPort
            Write-KerberosConfiguration $realm
            if ($try -eq 1) {
                $null = Invoke-KerberosTool $realm kdb5_util @('create', '-s', '-r', $name, '-P', "master-$([guid]::NewGuid().ToString('n'))")
                foreach ($p in @($ServicePrincipal) + $Client) {
                    $null = Invoke-KerberosTool $realm kadmin.local @('-q', "addprinc -randkey $p")
                }
                $null = Invoke-KerberosTool $realm kadmin.local @('-q', "ktadd -k $($realm.ServiceKeytab) $($ServicePrincipal -join ' ')")
                $null = Invoke-KerberosTool $realm kadmin.local @('-q', "ktadd -k $($realm.ClientKeytab) $Client")
            }
            $realm.Process = Start-Kdc $realm
        }
        if (-not $realm.Process) { throw "krb5kdc did not start on a free loopback port: $(Get-Content (Join-Path $dir 'kdc.log') -Raw -ErrorAction SilentlyContinue)" }
        $null = Invoke-KerberosTool $realm kinit @('-k', '-t', $realm.ClientKeytab, $realm.ClientPrincipal)
    }
    catch {
        Remove-KerberosRealm $realm
        throw
    }
    $realm.SetupSeconds = $watch.Elapsed.TotalSeconds
    $realm
}

function Write-KerberosConfiguration {
    param($Realm)
    $dir = $Realm.Directory
    # Host names stay as given (no DNS, no reverse lookup): the service principal is exactly
    # smtp/<the name the client was given>.
    Set-Content -LiteralPath $Realm.Environment.KRB5_CONFIG -Value @"
[libdefaults]
    default_realm = $($Realm.Name)
    dns_lookup_kdc = false
    dns_lookup_realm = false
    dns_canonicalize_hostname = false
    rdns = false
    udp_preference_limit = 1
    kdc_timeout = 5000
    max_retries = 1
[realms]
    $($Realm.Name) = {
        kdc = 127.0.0.1:$($Realm.Port)
    }
[domain_realm]
    localhost = $($Realm.Name)
"@
    Set-Content -LiteralPath $Realm.Environment.KRB5_KDC_PROFILE -Value @"
[kdcdefaults]
    kdc_ports = $($Realm.Port)
    kdc_tcp_ports = $($Realm.Port)
[realms]
    $($Realm.Name) = {
        database_name = $dir/principal
        key_stash_file = $dir/stash
        acl_file = $dir/kadm5.acl
        kdc_listen = 127.0.0.1:$($Realm.Port)
        kdc_tcp_listen = 127.0.0.1:$($Realm.Port)
    }
[logging]
    kdc = FILE:$dir/kdc.log
"@
}

function Start-Kdc {
    # Starts krb5kdc in the foreground (-n) and waits, a bounded number of times, until its TCP
    # port answers; returns the process, or $null when it exited (its port was taken).
    param($Realm)
    $start = [Diagnostics.ProcessStartInfo]::new((Get-KerberosTool krb5kdc))
    foreach ($a in '-n', '-r', $Realm.Name) { $start.ArgumentList.Add($a) }
    $start.UseShellExecute = $false
    $start.RedirectStandardOutput = $true
    $start.RedirectStandardError = $true
    foreach ($k in $Realm.Environment.Keys) { $start.Environment[$k] = $Realm.Environment[$k] }
    $process = [Diagnostics.Process]::Start($start)
    $null = $process.StandardOutput.ReadToEndAsync()
    $null = $process.StandardError.ReadToEndAsync()
    for ($i = 0; $i -lt 100; $i++) {
        if ($process.HasExited) { return $null }
        $client = [Net.Sockets.TcpClient]::new()
        try { $client.Connect([Net.IPAddress]::Loopback, $Realm.Port); return $process }
        catch { Start-Sleep -Milliseconds 100 }
        finally { $client.Dispose() }
    }
    $process.Kill($true)
    $null
}

function Remove-KerberosRealm {
    # Stops the KDC and deletes the realm's folder (database, keytabs, ticket cache).
    param($Realm)
    if (-not $Realm) { return }
    if ($Realm.Process -and -not $Realm.Process.HasExited) {
        $Realm.Process.Kill($true)
        $null = $Realm.Process.WaitForExit(10000)
    }
    Remove-Item -LiteralPath $Realm.Directory -Recurse -Force -ErrorAction SilentlyContinue
}
