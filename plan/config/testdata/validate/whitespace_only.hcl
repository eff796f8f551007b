

   
# just a comment
