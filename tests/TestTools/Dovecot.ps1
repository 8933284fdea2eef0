# Dot-sourced by the Kerberos tests: a private Dovecot POP3 instance (dovecot -c FILE, its own
# folders in a temp folder, nothing under /etc) that signs users in with GSSAPI against a test
# realm of Kerberos.ps1: a verifier this project did not write.
#
#   $dovecot = Start-DovecotGssapi -Realm $realm    # throws with the reason when it cannot
#   $dovecot = Start-DovecotGssapi -Realm $realm -SaslClientUser postfix   # and Postfix's SASL
#   Stop-DovecotGssapi $dovecot

function Install-DovecotGssapi {
    # Installs Dovecot's POP3 server and GSSAPI plugin with apt-get when missing. Returns $null when
    # they are there, else why they are not.
    $needed = { -not (Test-Path /usr/sbin/dovecot) -or -not (Test-Path /usr/lib/dovecot/pop3) -or -not (Test-Path /usr/lib/dovecot/modules/auth/libmech_gssapi.so) }
    if (-not (& $needed)) { return $null }
    if (-not $IsLinux -or -not (Get-Command apt-get -ErrorAction SilentlyContinue)) { return 'Dovecot with GSSAPI is missing and there is no apt-get to install it' }
    if ((id -u) -ne '0') { return 'Dovecot with GSSAPI is missing and installing it needs root' }
    $log = Join-Path ([IO.Path]::GetTempPath()) "dovecot-apt-$([guid]::NewGuid().ToString('n')).log"
    $env:DEBIAN_FRONTEND = 'noninteractive'
    $install = { apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=300 dovecot-core dovecot-pop3d dovecot-gssapi *>> $log; $LASTEXITCODE }
    if ((& $install) -ne 0) {
        apt-get update -q -o DPkg::Lock::Timeout=300 *>> $log
        $null = & $install
    }
    $tail = (Get-Content $log -Tail 5 -ErrorAction SilentlyContinue) -join ' / '
    Remove-Item $log -ErrorAction SilentlyContinue
    if (& $needed) { return "apt-get could not install dovecot-core, dovecot-pop3d and dovecot-gssapi: $tail" }
    $null
}

function Start-DovecotGssapi {
    # Starts Dovecot on a free loopback port: POP3 in plain text (Kerberos needs no TLS), SASL
    # GSSAPI only, acceptor pop/localhost from the realm's service keytab, mailboxes under the
    # instance's folder owned by nobody. -SaslClientUser gives that user (Postfix's smtpd) the
    # auth-client socket, through which it has Dovecot verify SMTP logins: GSSAPI with acceptor
    # smtp/localhost from the same keytab. Returns Port, Log, MailRoot and AuthSocket.
    param([Parameter(Mandatory)] $Realm, [string] $SaslClientUser)
    $why = Install-DovecotGssapi
    if ($why) { throw "No Dovecot for the tests: $why." }

    $dir = Join-Path $Realm.Directory "dovecot-$([guid]::NewGuid().ToString('n').Substring(0, 8))"
    $mail = Join-Path $dir 'mail'
    $null = New-Item -ItemType Directory -Path $mail, (Join-Path $dir 'run'), (Join-Path $dir 'state') -Force
    chown nobody:nogroup $mail
    # Dovecot's auth process runs as its own user and must read the keytab.
    chmod 0644 $Realm.ServiceKeytab
    $uid = (id -u nobody); $gid = (id -g nobody)
    $port = Get-FreeTcpPort
    $conf = Join-Path $dir 'dovecot.conf'
    Set-Content -LiteralPath $conf -Value @"
base_dir = $dir/run
state_dir = $dir/state
log_path = $dir/dovecot.log
instance_name = mailprotocols-kerberos-$PID-$port
protocols = pop3
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
import_environment = KRB5_CONFIG=$($Realm.Environment.KRB5_CONFIG) KRB5RCACHETYPE=none
auth_mechanisms = gssapi
auth_gssapi_hostname = localhost
auth_krb5_keytab = $($Realm.ServiceKeytab)
auth_username_format = %Ln
auth_verbose = yes
first_valid_uid = $uid
mail_location = maildir:~/Maildir
passdb {
  driver = static
  args = nopassword=y
}
userdb {
  driver = static
  args = uid=$uid gid=$gid home=$mail/%n
}
service pop3-login {
  inet_listener pop3 {
    address = 127.0.0.1
    port = $port
  }
  inet_listener pop3s {
    port = 0
  }
}
"@
    if ($SaslClientUser) {
        Add-Content -LiteralPath $conf -Value @"
service auth {
  unix_listener auth-client {
    mode = 0600
    user = $SaslClientUser
  }
}
"@
    }
    $instance = [pscustomobject]@{ Directory = $dir; Config = $conf; Port = $port; Log = Join-Path $dir 'dovecot.log'; MailRoot = $mail; AuthSocket = Join-Path $dir 'run/auth-client'; Started = $false }
    # Through sh into a file: the daemon's children keep a captured stdout open, and reading it
    # would wait for them forever.
    $startLog = Join-Path $dir 'start.log'
    sh -c "/usr/sbin/dovecot -c '$conf' >'$startLog' 2>&1"
    if ($LASTEXITCODE -ne 0) { throw "dovecot -c $conf failed ($LASTEXITCODE): $(Get-Content $startLog -Raw)" }
    $instance.Started = $true
    for ($i = 0; $i -lt 100; $i++) {
        $client = [Net.Sockets.TcpClient]::new()
        try { $client.Connect([Net.IPAddress]::Loopback, $port); return $instance }
        catch { Start-Sleep -Milliseconds 100 }
        finally { $client.Dispose() }
    }
    Stop-DovecotGssapi $instance
    throw "Dovecot did not listen on port $port within 10 s: $(Get-Content $instance.Log -Raw -ErrorAction SilentlyContinue)"
}

function Add-DovecotMessage {
    # Puts one message into the user's Maildir (new/), as delivery would.
    param($Instance, [string] $User, [string] $Raw)
    $maildir = Join-Path $Instance.MailRoot "$User/Maildir"
    foreach ($sub in 'cur', 'new', 'tmp') { $null = New-Item -ItemType Directory -Path (Join-Path $maildir $sub) -Force }
    Set-Content -LiteralPath (Join-Path $maildir "new/$([DateTimeOffset]::UtcNow.ToUnixTimeSeconds()).$([guid]::NewGuid().ToString('n')).localhost") -Value $Raw -NoNewline
    chown -R nobody:nogroup (Join-Path $Instance.MailRoot $User)
}

function Stop-DovecotGssapi {
    param($Instance)
    if ($Instance -and $Instance.Started) {
        & /usr/sbin/dovecot -c $Instance.Config stop 2>&1 | Out-Null
        $Instance.Started = $false
    }
}
