# rsync over SSH from f400 to dgx (chapter 5.1), run by hand after every edit
rsync -az --delete --exclude '*.tmp' --exclude '*~' --exclude '.git/' --bwlimit=10240 -e ssh /var/www/html/ root@192.168.0.27:/var/www/html/
