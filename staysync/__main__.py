from staysync.cli import app

app()
